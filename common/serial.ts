/**
 * One written form of a certificate serial for the whole system: upper-case
 * hex without leading zeros. Node and OpenSSL pad to whole bytes ("01A2…"),
 * Go and Python print the number; the services report this form and the
 * scripts and tests compare only this form. No imports.
 */
export function normaliseSerial(serial: string): string {
  return serial.replace(/^(0x)?0*/i, '').toUpperCase() || '0';
}

/** The canonical serial of a certificate (node:crypto's X509Certificate, or a TLS peer certificate). */
export function serialOf(cert: { readonly serialNumber: string }): string {
  return normaliseSerial(cert.serialNumber);
}
