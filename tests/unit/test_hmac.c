/* SHA-256 and HMAC-SHA256 against published vectors (FIPS 180-4 examples, RFC 4231). */
#include <stdio.h>
#include <string.h>

#include "sluice/hmac.h"
#include "support.h"

static void hex(char *out, const unsigned char *d)
{
	for (int i = 0; i < SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_vectors(void **state)
{
	unsigned char d[SHA256_LEN];
	char h[65];
	(void)state;
	sha256(d, "", 0);
	hex(h, d);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256(d, "abc", 3);
	hex(h, d);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256(d, two, strlen(two));
	hex(h, d);
	assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void hmac_rfc4231(void **state)
{
	unsigned char d[SHA256_LEN], key[131], want[SHA256_LEN];
	char h[65];
	(void)state;
	/* test case 1 */
	memset(key, 0x0b, 20);
	hmac_sha256(d, key, 20, "Hi There", 8);
	hex(h, d);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* test case 2 */
	hmac_sha256(d, "Jefe", 4, "what do ya want for nothing?", 28);
	hex(h, d);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* test case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac_sha256(d, key, 131, msg, strlen(msg));
	hex(h, d);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	assert_int_equal(hmac_from_hex(want, h, 64), 0);
	assert_true(hmac_equal(want, d, SHA256_LEN));
	want[31] ^= 1;
	assert_false(hmac_equal(want, d, SHA256_LEN));
	assert_int_equal(hmac_from_hex(want, "zz", 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sha256_vectors),
	    cmocka_unit_test(hmac_rfc4231),
	};
	return cmocka_run_group_tests_name("hmac", tests, NULL, NULL);
}
