# Reads everything httpd writes to its log FIFO and prints JSON lines on
# stdout. Access lines are JSON already (LogFormat mtls in httpd.conf.in):
# they pass through and are counted, and the counts go to the file named by
# -v counts=... as "ok refused failed", which mtls-httpd copies into the
# stats file. Error lines (ErrorLogFormat "time|level|module|message", or
# free text written before the configuration applies) become JSON.
function esc(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    gsub(/[\001-\037\177]/, " ", s)
    return s
}
function level(l) {
    sub(/^.*:/, "", l) # "ssl:info" -> "info"
    if (l ~ /^(emerg|alert|crit|error)$/) return "error"
    if (l == "warn") return "warn"
    return "info"
}
BEGIN { ok = 0; refused = 0; failed = 0 }
/^\{"ts":"/ {
    print
    if (match($0, /"status":[0-9]+/)) {
        status = substr($0, RSTART + 9, RLENGTH - 9) + 0
        if (status < 400) ok++
        else if (status < 500) refused++
        else failed++
        print ok, refused, failed > counts
        close(counts)
    }
    fflush()
    next
}
{
    n = split($0, part, "|")
    if (n >= 4 && part[1] ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] /) {
        msg = part[4]
        for (i = 5; i <= n; i++) msg = msg "|" part[i]
        printf "{\"ts\":\"%sZ\",\"level\":\"%s\",\"component\":\"httpd\",\"msg\":\"%s\",\"module\":\"%s\"}\n",
            esc(substr(part[1], 1, 10) "T" substr(part[1], 12, 12)), level(part[2]), esc(msg), esc(part[3])
    } else if ($0 != "") {
        printf "{\"ts\":\"%s\",\"level\":\"warn\",\"component\":\"httpd\",\"msg\":\"%s\"}\n", now(), esc($0)
    }
    fflush()
}
function now(   t) {
    "date -u +%Y-%m-%dT%H:%M:%S.000Z" | getline t
    close("date -u +%Y-%m-%dT%H:%M:%S.000Z")
    return t
}
