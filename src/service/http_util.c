/* http_util.c - see http_util.h. */
#include "service/http_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "base/base64.h"

int http_status_for_error(const qvl_error *err) {
    switch (err->code) {
    case QVL_E_BAD_INPUT: return 400;
    case QVL_E_TOO_LARGE: return 413;
    case QVL_E_BAD_MEDIA: return 415;
    case SRV_E_AUTH: return 401;
    case SRV_E_NOT_FOUND: return 404;
    case SRV_E_METHOD: return 405;
    case SRV_E_MEDIA_TYPE: return 415;
    case SRV_E_QUEUE_FULL: return 503;
    case SRV_E_SHUTDOWN: return 503;
    case QVL_E_CANCELLED: return 503;
    case SRV_E_LOADING: return 503;
    case SRV_E_TIMEOUT: return 504;
    default: return 500;
    }
}

const char *http_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 415: return "unsupported_media_type";
    case 503: return "overloaded_error";
    case 504: return "timeout_error";
    default: return status < 500 ? "invalid_request_error" : "server_error";
    }
}

json_t *http_error_json(int status, const char *msg) {
    return json_pack("{s:{s:s, s:s, s:i}}", "error", "message", msg, "type", http_error_type(status), "code", status);
}

/* ---- data URLs ------------------------------------------------- */

/* Names a client may declare for a sniffed kind besides the kind itself:
 * image/jpg, a common misspelling, and HEIF, the container's family name,
 * which clients use for its HEVC (heic) and AV1 (avif) flavours alike. */
static const struct { const char *kind, *alias; } mime_aliases[] = {
    {"image/jpeg", "image/jpg"}, {"image/heic", "image/heif"},
    {"image/heif", "image/heic"}, {"image/avif", "image/heif"},
};

static bool declared_matches(const char *declared, const char *kind) {
    /* A prefix match also takes parameters and suffixes ("image/heic-sequence"). */
    if (!strncasecmp(declared, kind, strlen(kind))) return true;
    for (size_t i = 0; i < sizeof mime_aliases / sizeof mime_aliases[0]; i++)
        if (!strcmp(kind, mime_aliases[i].kind) &&
            !strncasecmp(declared, mime_aliases[i].alias, strlen(mime_aliases[i].alias)))
            return true;
    return false;
}

int http_check_image_kind(const uint8_t *bytes, size_t len, const char *declared_mime, qvl_error *err) {
    const char *kind = image_sniff(bytes, len);
    if (!kind)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "the uploaded data is not a supported image: send a JPEG, "
                             "PNG, WebP, HEIC, AVIF, TIFF, GIF, BMP or PDF");
    if (declared_mime && *declared_mime && strcasecmp(declared_mime, "application/octet-stream") != 0) {
        if (!declared_matches(declared_mime, kind))
            return qvl_fail_code(err, QVL_E_BAD_MEDIA, "the image is declared as %.64s but its bytes are %s",
                                 declared_mime, kind);
    }
    return 0;
}

int http_image_bytes(const char *ref, const char *declared_mime, size_t max_bytes, uint8_t **bytes, size_t *len,
                     qvl_error *err) {
    char mime[80] = "";
    const char *b64 = ref;
    if (!strncasecmp(ref, "http://", 7) || !strncasecmp(ref, "https://", 8) || !strncasecmp(ref, "file:", 5))
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "image URLs are not fetched by this server: send the image inline as a data URL "
                             "(data:image/jpeg;base64,...)");
    if (!strncasecmp(ref, "data:", 5)) {
        const char *comma = strchr(ref, ',');
        const char *semi = strchr(ref, ';');
        if (!comma || !semi || semi > comma || strncasecmp(semi, ";base64,", 8) != 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "the data URL must look like data:image/png;base64,<data>");
        size_t ml = (size_t)(semi - ref - 5);
        if (ml >= sizeof mime) ml = sizeof mime - 1;
        memcpy(mime, ref + 5, ml);
        mime[ml] = 0;
        declared_mime = mime;
        b64 = comma + 1;
    }
    size_t n = strlen(b64);
    if (n == 0) return qvl_fail_code(err, QVL_E_BAD_INPUT, "the image data is empty");
    *bytes = base64_decode(b64, n, max_bytes, len, err);
    if (!*bytes) return -1;
    if (http_check_image_kind(*bytes, *len, declared_mime, err) != 0) {
        free(*bytes);
        *bytes = NULL;
        return -1;
    }
    return 0;
}

/* ---- sockets and time ----------------------------------------------------- */

bool http_peer_closed(int fd) {
    if (fd < 0) return false;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return true;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

void http_iso_time(char *buf, size_t size) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

int http_get_number(const json_t *obj, const char *key, double lo, double hi, double *out, qvl_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return qvl_fail_code(err, QVL_E_BAD_INPUT, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'%s' must be between %g and %g (got %g)", key, lo, hi, d);
    *out = d;
    return 0;
}
