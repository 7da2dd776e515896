#include "utf8.h"

size_t proto_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (n == 0)
        return 0;
    uint8_t b = s[0];
    size_t len;
    uint32_t v;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if ((b & 0xe0) == 0xc0) { len = 2; v = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { len = 3; v = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { len = 4; v = b & 0x07; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min_cp[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

bool proto_utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = proto_utf8_decode(s + i, n - i, &cp);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}
