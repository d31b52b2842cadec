/* The wire side: the frame reader fed in uneven pieces, and the request
 * envelope decoder on every frame it yields. The first byte of the input
 * picks the piece size, so that splits are explored too. */
#include <stdlib.h>
#include <string.h>

#include "client/qraft.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qraft_wire_reader reader;
    struct qraft_request req;
    const void *payload;
    size_t len;
    size_t step;
    size_t off;
    char errmsg[256];

    if (size == 0) {
        return 0;
    }
    step = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    /* The request decoder on the raw input, unframed. */
    (void)qraft_wire_decode_request(data, size, &req, errmsg, sizeof errmsg);

    qraft_wire_reader_init(&reader, 1 << 16);
    for (off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        int rv;
        if (qraft_wire_reader_feed(&reader, data + off, n) != 0) {
            break;
        }
        while ((rv = qraft_wire_reader_next(&reader, &payload, &len)) == 1) {
            if (qraft_wire_decode_request(payload, len, &req, errmsg, sizeof errmsg) == 0) {
                /* A decoded request re-encodes. */
                void *frame;
                size_t flen;
                if (qraft_wire_encode_request(&req, &frame, &flen) == 0) {
                    free(frame);
                }
            }
        }
        if (rv != 0) {
            break; /* frame too large: the stream is unusable */
        }
    }
    qraft_wire_reader_close(&reader);
    return 0;
}
