/*
 * crc32c: CRC-32C (Castagnoli, polynomial 0x82F63B78 reflected), the checksum
 * of every record the embedded adaptor writes.
 *
 * Table-driven, slicing by 8 bytes (about 1-2 GB/s, far above the disk);
 * OpenSSL has no CRC-32C. Tables are built on first use (thread-safe).
 */
#ifndef CV_STORE_CRC32C_H
#define CV_STORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0; store_crc32c(store_crc32c(0, a), b)
 * equals the CRC of a followed by b. store_crc32c(0, "123456789", 9) is
 * 0xE3069283. */
uint32_t store_crc32c(uint32_t crc, const void *data, size_t len);

#endif
