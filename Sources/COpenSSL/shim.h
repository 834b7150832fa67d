#ifndef USERO_COPENSSL_SHIM_H
#define USERO_COPENSSL_SHIM_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#endif
