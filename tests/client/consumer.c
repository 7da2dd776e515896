/* A program that knows libsekrets only through its installed header and sekrets.pc. */
#include <sekrets/sekrets.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    static const unsigned char body[] = { 0x81, 0xa8, 'p', 'a', 's', 's', 'w', 'o', 'r', 'd',
                                          0xa2, 'p', 'w' }; /* {"password": "pw"} */
    skr_client *c;
    skr_cred *cred;
    const char *pw;
    int r;
    if (argc != 2)
        return 2;
    if ((r = skr_connect(argv[1], 5000, &c)) != 0) {
        fprintf(stderr, "connect: %s\n", skr_strerror(r));
        return 1;
    }
    if ((r = skr_post(c, "consumer", "me", body, sizeof(body))) != 0 ||
        (r = skr_get(c, "me", "consumer", &cred)) != 0) {
        fprintf(stderr, "%s\n", skr_strerror(r));
        skr_client_close(c);
        return 1;
    }
    r = skr_cred_string(cred, "password", &pw, NULL);
    printf("%s %s %s\n", skr_version(), r == 0 ? pw : "?", skr_error_name(SKR_ENOT_FOUND));
    skr_cred_free(cred);
    skr_client_close(c);
    return 0;
}
