// The reference Argon2 from Debian's libargon2-dev: argon2id hashing and verification of link
// passwords, used only by SharedPasswords.
#include <argon2.h>
