# Reads everything nginx writes (its error log and the JSON access log, both
# on its stderr FIFO) and prints JSON lines on stdout. Access lines pass
# through and are counted; the counts go to the file named by -v counts=...
# as "ok refused failed", which mtls-nginx copies into the stats file.
function esc(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    gsub(/[[:cntrl:]]/, " ", s)
    return s
}

BEGIN { ok = 0; refused = 0; failed = 0 }

/^\{"ts":/ {
    print
    fflush()
    # ok: accepted (identity allowed) and answered below 400. refused: turned
    # away by nginx itself (identity, certificate, malformed request). failed:
    # everything else (the upstream unreachable or answering 4xx/5xx).
    status = match($0, /"status":[0-9]+/) ? substr($0, RSTART + 9, RLENGTH - 9) + 0 : 0
    accepted = $0 ~ /"result":"accepted"/
    if (accepted && status < 400) ok++
    else if (!accepted && status >= 400 && status < 500) refused++
    else failed++
    # Rewritten per request: a reader may see it empty for a moment and keeps
    # its previous numbers then.
    printf "%d %d %d\n", ok, refused, failed > counts
    close(counts)
    next
}

# nginx's own format: "2026/12/01 10:00:00 [warn] 7#7: *3 message", or
# "nginx: [emerg] message" before its log is set up.
{
    ts = ""; level = "info"; msg = $0
    if (match(msg, /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] [0-9:]+ /)) {
        ts = substr(msg, 1, 4) "-" substr(msg, 6, 2) "-" substr(msg, 9, 2) "T" substr(msg, 12, 8) "Z"
        msg = substr(msg, RLENGTH + 1)
    } else sub(/^nginx: /, "", msg)
    if (match(msg, /^\[[a-z]+\] /)) {
        l = substr(msg, 2, RLENGTH - 3)
        msg = substr(msg, RLENGTH + 1)
        if (l ~ /^(emerg|alert|crit|error)$/) level = "error"
        else if (l == "warn") level = "warn"
        else if (l == "debug") level = "debug"
    }
    sub(/^[0-9]+#[0-9]+: /, "", msg)
    if (ts == "") {
        "date -u +%Y-%m-%dT%H:%M:%SZ" | getline ts
        close("date -u +%Y-%m-%dT%H:%M:%SZ")
    }
    printf "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"nginx\",\"msg\":\"%s\"}\n", ts, level, esc(msg)
    fflush()
}
