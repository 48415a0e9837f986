// The shim lives with the host-identity code that needs it outside tests.
import '../../scripts/lib/identity/reflect-shim.js';
