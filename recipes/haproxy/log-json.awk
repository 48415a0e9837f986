# Reads everything HAProxy writes (its JSON request and connection-error log
# on stdout, its own messages on stderr, both on one FIFO) and prints JSON
# lines on stdout. Log lines pass through and are counted; the counts go to
# the file named by -v counts=... as "ok refused failed", which mtls-haproxy
# copies into the stats file.
# esc(s): s as the inside of a JSON string.
function esc(s) { gsub(/\\/, "\\\\\\\\", s); gsub(/"/, "\\\"", s); gsub(/[[:cntrl:]]/, " ", s); return s }

BEGIN { ok = 0; refused = 0; failed = 0 }

/^\{"ts":/ {
    print
    fflush()
    # ok: identity allowed and answered below 400. refused: turned away by
    # HAProxy itself (the handshake, the identity, a malformed request).
    # failed: everything else (the upstream unreachable, refusing HAProxy or
    # answering 4xx/5xx).
    status = match($0, /"status":-?[0-9]+/) ? substr($0, RSTART + 9, RLENGTH - 9) + 0 : 0
    if ($0 ~ /"msg":"connection refused"/) refused++
    else if ($0 ~ /"result":"accepted"/ && status > 0 && status < 400) ok++
    else if ($0 !~ /"result":"accepted"/ && status >= 400 && status < 500) refused++
    else failed++
    # Rewritten per line: a reader may see it empty for a moment and keeps
    # its previous numbers then.
    printf "%d %d %d\n", ok, refused, failed > counts
    close(counts)
    next
}

# HAProxy's own format: "[WARNING]  (7) : message".
{
    level = "info"; msg = $0
    if (match(msg, /^\[[A-Z]+\] *\([0-9]+\) : /)) {
        l = substr(msg, 2, index(msg, "]") - 2)
        msg = substr(msg, RLENGTH + 1)
        if (l == "ALERT" || l == "EMERG") level = "error"
        else if (l == "WARNING") level = "warn"
        else if (l == "DEBUG") level = "debug"
    }
    "date -u +%Y-%m-%dT%H:%M:%SZ" | getline ts
    close("date -u +%Y-%m-%dT%H:%M:%SZ")
    printf "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"haproxy\",\"msg\":\"%s\"}\n", ts, level, esc(msg)
    fflush()
}
