/* Decodes ExportTraceServiceRequest wire bytes straight into plain Python objects, and rewrites
 * metrics and logs requests so the protobuf runtime can read them under the depth policy.
 *
 * Reading a span through the protobuf runtime's Python objects costs about a microsecond per
 * field touched; this reads the wire format once and builds tuples, dicts and strings directly.
 * The shapes returned are named in convert/wire.py; tests/unit/test_wire.py compares them with
 * what the protobuf runtime decodes from the same bytes, and tests/fuzz/ keeps comparing them.
 *
 * Semantics follow the protobuf runtime (upb): unknown fields and fields of an unexpected wire
 * type are skipped, scalars and oneofs take the last value on the wire, repeated fields
 * accumulate, strings must be valid UTF-8 (checked even where the value is not kept), tags and
 * lengths take at most 5 bytes (tags up to 2^32 - 1, lengths up to 2^31 - 1), other varints 10.
 *
 * The depth policy (convert/nesting.py says it for Python): AnyValue arrays and key-value lists
 * nested deeper than MAX_DEPTH are kept as the TOO_DEEP marker, and so is read what they hold -
 * without recursion, to MAX_NESTING levels, as the Go runtime of the OpenTelemetry Collector
 * reads them - and so are oneof members a later member replaces. What is kept is read as the
 * protobuf runtime reads it, with its limit of RUNTIME_NESTING levels, groups of unknown fields
 * counting with messages. C recursion is bounded by MAX_DEPTH; the rest is iterative. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "module_constants.h"
#include "span_tuple.h"

#define MAX_DEPTH 16          /* nesting of AnyValue arrays and key-value lists kept (common.MAX_DEPTH) */
#define RUNTIME_NESTING 101   /* the protobuf runtime's limit: the request and 100 levels below it */
#define MAX_NESTING 10000     /* the Go runtime's: messages and groups, the request being level 1 */

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_START_GROUP = 3, WIRE_END_GROUP = 4, WIRE_FIXED32 = 5 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int nesting; /* how many messages (and groups) deep this one is, the request being 1 */
} Reader;

/* What every decode call shares: the attribute byte cap and how to apply it. */
typedef struct {
    Py_ssize_t max_bytes;
    PyObject *capped_value; /* callable(value, max_bytes, is_text) -> capped value */
} Options;

static PyObject *DecodeError;
static PyObject *TooDeep;   /* the marker string that replaces values nested too deep */
static PyObject *EmptyText; /* "" */
static Py_ssize_t TooDeepSize; /* an AnyValue holding only the marker, as the runtime encodes it */

static int fail(const char *what) {
    PyErr_SetString(DecodeError, what);
    return -1;
}

static int read_varint(Reader *r, uint64_t *out) {
    if (r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return 0;
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return fail("truncated varint");
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return fail("varint longer than 10 bytes");
}

/* A tag or a length: at most 5 bytes and `limit`, as the runtime reads them. */
static int read_short_varint(Reader *r, uint64_t limit, uint64_t *out) {
    if (r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return 0;
    }
    uint64_t value = 0;
    for (int i = 0; i < 5; i++) {
        if (r->p >= r->end) return fail("truncated tag or length");
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if (value > limit) return fail(limit == UINT32_MAX ? "tag over 32 bits" : "length over 2 GiB");
            *out = value;
            return 0;
        }
    }
    return fail("tag or length longer than 5 bytes");
}

/* fixed32 or fixed64 into *out (size 4 or 8): the wire is little-endian, like every platform
 * this runs on. */
static int read_fixed(Reader *r, void *out, Py_ssize_t size) {
    if (r->end - r->p < size) return fail("truncated fixed-width field");
    memcpy(out, r->p, size);
    r->p += size;
    return 0;
}

static int read_length_delimited(Reader *r, Reader *inner) {
    uint64_t length;
    if (read_short_varint(r, INT32_MAX, &length) < 0) return -1;
    if (length > (uint64_t)(r->end - r->p)) return fail("length-delimited field runs past its message");
    inner->p = r->p;
    inner->end = r->p + length;
    inner->nesting = r->nesting;
    r->p += length;
    return 0;
}

/* A length-delimited field holding a message: one level deeper, refused past `limit` as the
 * runtime refuses it on entering (an empty message too). */
static int enter_message(Reader *r, Reader *inner, int limit) {
    if (read_length_delimited(r, inner) < 0) return -1;
    if (++inner->nesting > limit) return fail("messages nested too deep");
    return 0;
}

/* A message's tag: field number 0 is invalid outside groups. */
static int read_tag(Reader *r, uint32_t *field, int *wire_type) {
    uint64_t tag;
    if (read_short_varint(r, UINT32_MAX, &tag) < 0) return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    if (*field == 0) return fail("invalid field number");
    return 0;
}

static int valid_utf8(const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        while (end - p >= 8) { /* ASCII, 8 bytes at a time */
            uint64_t word;
            memcpy(&word, p, 8);
            if (word & 0x8080808080808080ULL) break;
            p += 8;
        }
        if (p >= end) break;
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
        } else if (c < 0xc2) {
            return 0;
        } else if (c < 0xe0) {
            if (end - p < 2 || (p[1] & 0xc0) != 0x80) return 0;
            p += 2;
        } else if (c < 0xf0) {
            if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
            if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)) return 0; /* overlong, surrogate */
            p += 3;
        } else if (c < 0xf5) {
            if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
            if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)) return 0; /* overlong, past U+10FFFF */
            p += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* A string field that is not kept must still be valid UTF-8, as the runtime insists. */
static int check_text(const Reader *field) {
    return valid_utf8(field->p, field->end) ? 0 : fail("invalid UTF-8 in a string field");
}

/* Messages read only to be checked: what values nested past MAX_DEPTH hold, replaced oneof
 * members, groups of unknown fields. */
enum { CHECK_ANY_VALUE, CHECK_ARRAY, CHECK_KVLIST, CHECK_KEY_VALUE, CHECK_GROUP };
enum { FIELD_STRING = -1, FIELD_OTHER = -2 };

/* What a length-delimited field of a checked message holds: a message (CHECK_*), a string, or
 * bytes or an unknown field. */
static int checked_field(int type, uint32_t field) {
    switch (type) {
    case CHECK_ANY_VALUE:
        return field == 1 ? FIELD_STRING : field == 5 ? CHECK_ARRAY : field == 6 ? CHECK_KVLIST : FIELD_OTHER;
    case CHECK_ARRAY:
        return field == 1 ? CHECK_ANY_VALUE : FIELD_OTHER;
    case CHECK_KVLIST:
        return field == 1 ? CHECK_KEY_VALUE : FIELD_OTHER;
    case CHECK_KEY_VALUE:
        return field == 1 ? FIELD_STRING : field == 2 ? CHECK_ANY_VALUE : FIELD_OTHER;
    default:
        return FIELD_OTHER;
    }
}

typedef struct {
    const uint8_t *end;
    uint32_t group; /* a group's field number: its end tag must carry it */
    int type;
} Frame;

/* Checks a message of `type` (r holds its fields, r->nesting is its level), or with CHECK_GROUP
 * the rest of a group of field number `group` that opens one level below r->nesting, as the
 * runtime parses them, up to `limit` levels; r is left after it. Iterative: it may be nested
 * thousands of levels. *deepest, if given, is raised to the deepest level met. */
static int check_nested(Reader *r, int type, uint32_t group, int limit, int *deepest) {
    Frame local[32], *stack = local;
    int capacity = 32, depth = 0, result = -1;
    int base = type == CHECK_GROUP ? r->nesting + 1 : r->nesting; /* the first frame's level */
    const uint8_t *outer_end = r->end;
    if (base > limit) return fail("messages nested too deep");
    stack[depth++] = (Frame){r->end, group, type};
    while (depth > 0) {
        Frame *top = &stack[depth - 1];
        if (top->type != CHECK_GROUP && r->p == top->end) {
            if (--depth > 0) r->end = stack[depth - 1].end;
            continue;
        }
        if (r->p >= r->end) {
            fail("unterminated group");
            goto done;
        }
        uint64_t tag, ignored;
        if (read_short_varint(r, UINT32_MAX, &tag) < 0) goto done;
        uint32_t field = (uint32_t)(tag >> 3);
        /* Inside a group the runtime takes field number 0 too. */
        if (field == 0 && top->type != CHECK_GROUP) {
            fail("invalid field number");
            goto done;
        }
        int child = -3;
        const uint8_t *child_end = r->end; /* a group ends within its message */
        switch (tag & 7) {
        case WIRE_VARINT:
            if (read_varint(r, &ignored) < 0) goto done;
            break;
        case WIRE_FIXED64:
            if (read_fixed(r, &ignored, 8) < 0) goto done;
            break;
        case WIRE_FIXED32:
            if (read_fixed(r, &ignored, 4) < 0) goto done;
            break;
        case WIRE_LEN: {
            Reader payload;
            if (read_length_delimited(r, &payload) < 0) goto done;
            int kind = checked_field(top->type, field);
            if (kind == FIELD_STRING) {
                if (check_text(&payload) < 0) goto done;
            } else if (kind >= 0) {
                child = kind;
                child_end = payload.end;
                r->p = payload.p; /* into it */
            }
            break;
        }
        case WIRE_START_GROUP:
            child = CHECK_GROUP;
            break;
        case WIRE_END_GROUP:
            if (top->type != CHECK_GROUP || top->group != field) {
                fail("unexpected end-group tag");
                goto done;
            }
            if (--depth > 0) r->end = stack[depth - 1].end;
            continue;
        default:
            fail("invalid wire type");
            goto done;
        }
        if (child == -3) continue;
        if (base + depth > limit) {
            fail("messages nested too deep");
            goto done;
        }
        if (deepest != NULL && base + depth > *deepest) *deepest = base + depth;
        if (depth == capacity) {
            Frame *grown = PyMem_Realloc(stack == local ? NULL : stack, (size_t)capacity * 2 * sizeof(Frame));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            if (stack == local) memcpy(grown, local, sizeof local);
            stack = grown;
            capacity *= 2;
        }
        stack[depth++] = (Frame){child_end, field, child};
        r->end = child_end;
    }
    result = 0;
done:
    if (stack != local) PyMem_Free(stack);
    if (result == 0) r->end = outer_end;
    return result;
}

static PyObject *empty_text(void) {
    Py_INCREF(EmptyText);
    return EmptyText;
}

static PyObject *empty_bytes(void) {
    return PyBytes_FromStringAndSize(NULL, 0);
}

static PyObject *empty_list(void) {
    return PyList_New(0);
}

/* A field absent from the wire gets its default: "", b"", {} or []. */
static int or_default(PyObject **slot, PyObject *(*make_default)(void)) {
    if (*slot == NULL && (*slot = make_default()) == NULL) return -1;
    return 0;
}

static PyObject *text_from(Reader *field) {
    Py_ssize_t length = field->end - field->p;
    if (length == 0) return empty_text();
    return PyUnicode_DecodeUTF8((const char *)field->p, length, NULL);
}

/* Attribute keys and span and event names repeat from span to span: each distinct short ASCII
 * one is decoded and hashed once, then shared (str objects are immutable). A fixed table, a slot
 * per hash of the bytes, a newcomer replacing whatever held its slot: bounded whatever clients
 * send. */
#define CACHE_SLOTS 4096
#define CACHE_MAX_LENGTH 64

static PyObject *TextCache[CACHE_SLOTS];

static PyObject *shared_text_from(Reader *field) {
    Py_ssize_t length = field->end - field->p;
    if (length == 0 || length > CACHE_MAX_LENGTH) return text_from(field);
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    for (const uint8_t *p = field->p; p < field->end; p++) hash = (hash ^ *p) * 1099511628211ULL;
    PyObject **slot = &TextCache[(hash ^ (hash >> 32)) & (CACHE_SLOTS - 1)];
    PyObject *cached = *slot;
    if (cached != NULL && PyUnicode_GET_LENGTH(cached) == length &&
        memcmp(PyUnicode_DATA(cached), field->p, length) == 0) {
        Py_INCREF(cached);
        return cached;
    }
    PyObject *text = text_from(field);
    if (text == NULL || !PyUnicode_IS_ASCII(text)) return text; /* ASCII: its bytes are its data */
    if (PyObject_Hash(text) == -1) { /* computed now, kept by the object for every dict it enters */
        Py_DECREF(text);
        return NULL;
    }
    Py_INCREF(text);
    Py_XSETREF(*slot, text);
    return text;
}


static PyObject *bytes_from(Reader *field) {
    return PyBytes_FromStringAndSize((const char *)field->p, field->end - field->p);
}

/* Replaces *slot with a new reference (the last value on the wire wins). */
static int store(PyObject **slot, PyObject *value) {
    if (value == NULL) return -1;
    Py_XSETREF(*slot, value);
    return 0;
}

/* A singular message field sent more than once: the runtime parses every occurrence into the same
 * message, which is parsing the occurrences in order. They are kept as segments, not joined, so
 * n occurrences cost O(n) whatever their count (joining them cost O(n^2)). */
typedef struct {
    Reader *items;
    Py_ssize_t count, capacity;
    Reader inline_items[2];
} Segments;

static void segments_init(Segments *s) {
    s->items = s->inline_items;
    s->count = 0;
    s->capacity = 2;
}

static void segments_free(Segments *s) {
    if (s->items != s->inline_items) PyMem_Free(s->items);
    segments_init(s);
}

static int segments_append(Segments *s, const Reader *r) {
    if (s->count == s->capacity) {
        Py_ssize_t capacity = s->capacity * 2;
        Reader *items = s->items == s->inline_items ? PyMem_New(Reader, capacity)
                                                    : PyMem_Realloc(s->items, (size_t)capacity * sizeof(Reader));
        if (items != NULL && s->items == s->inline_items) memcpy(items, s->inline_items, sizeof s->inline_items);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->items = items;
        s->capacity = capacity;
    }
    s->items[s->count++] = *r;
    return 0;
}

/* The field's value is this occurrence alone (a new oneof member, or a scalar: the last wins). */
static void segments_replace(Segments *s, const Reader *r) {
    s->count = 0;
    s->items[s->count++] = *r; /* capacity is at least 2 */
}

static PyObject *base64_text(Reader *field) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_ssize_t length = field->end - field->p;
    PyObject *result = PyUnicode_New(((length + 2) / 3) * 4, 127);
    if (result == NULL) return NULL;
    char *out = (char *)PyUnicode_DATA(result);
    const uint8_t *in = field->p;
    Py_ssize_t i = 0;
    for (; i + 2 < length; i += 3) {
        uint32_t triple = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[triple >> 18];
        *out++ = alphabet[(triple >> 12) & 63];
        *out++ = alphabet[(triple >> 6) & 63];
        *out++ = alphabet[triple & 63];
    }
    if (i < length) {
        uint32_t triple = (uint32_t)in[i] << 16 | (i + 1 < length ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = alphabet[triple >> 18];
        *out++ = alphabet[(triple >> 12) & 63];
        *out++ = i + 1 < length ? alphabet[(triple >> 6) & 63] : '=';
        *out++ = '=';
    }
    return result;
}

/* Skips a field of wire_type whose tag was just read; a group (read to its end tag) counts as a
 * level, refused past `limit`. */
static int skip_field(Reader *r, uint32_t field, int wire_type, int limit, int *deepest) {
    uint64_t ignored;
    Reader inner;
    switch (wire_type) {
    case WIRE_VARINT:
        return read_varint(r, &ignored);
    case WIRE_FIXED64:
        return read_fixed(r, &ignored, 8);
    case WIRE_LEN:
        return read_length_delimited(r, &inner);
    case WIRE_FIXED32:
        return read_fixed(r, &ignored, 4);
    case WIRE_START_GROUP:
        return check_nested(r, CHECK_GROUP, field, limit, deepest);
    default:
        return fail("unexpected end-group tag or invalid wire type");
    }
}

/* A field of a message that is kept: read as the runtime reads it. */
static int skip_kept_field(Reader *r, uint32_t field, int wire_type) {
    return skip_field(r, field, wire_type, RUNTIME_NESTING, NULL);
}

/* Bytes of the varint encoding of value. */
static Py_ssize_t varint_size(uint64_t value) {
    Py_ssize_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

/* A length-delimited field of a field number below 16, as the runtime encodes it. */
static Py_ssize_t delimited_size(Py_ssize_t length) {
    return 1 + varint_size((uint64_t)length) + length;
}

/* An int32 field's encoding: negative values take 10 bytes. */
static Py_ssize_t int32_varint_size(uint64_t wire_value) {
    return varint_size((uint64_t)(int64_t)(int32_t)(uint32_t)wire_value);
}

/* The wire type an AnyValue member is read from (8, string_value_strindex, a profiles string-table
 * index, is in the oneof too), or -1 for a field outside the oneof. */
static int member_wire_type(uint32_t field) {
    switch (field) {
    case 1:
    case 5:
    case 6:
    case 7:
        return WIRE_LEN;
    case 2:
    case 3:
    case 8:
        return WIRE_VARINT;
    case 4:
        return WIRE_FIXED64;
    default:
        return -1;
    }
}

/* A oneof member a later member replaced: the runtime parsed it all the same, so it must be valid;
 * nothing of it is kept, so it is checked to MAX_NESTING. */
static int check_replaced_member(int kind, const Segments *payload) {
    if (kind == 1) return check_text(&payload->items[0]);
    if (kind != 5 && kind != 6) return 0;
    for (Py_ssize_t i = 0; i < payload->count; i++) {
        Reader member = payload->items[i];
        if (check_nested(&member, kind == 5 ? CHECK_ARRAY : CHECK_KVLIST, 0, MAX_NESTING, NULL) < 0) return -1;
    }
    return 0;
}

static PyObject *any_value(const Segments *message, int depth, int *kind_seen, Py_ssize_t *size);

static int add_key_value(PyObject *dict, Reader *message, int depth, const Options *options, Py_ssize_t *size);

/* The items of an ArrayValue or KeyValueList (field 1 of each), whatever its occurrences; *size is
 * its encoded size as kept. */
static PyObject *array_or_kvlist(const Segments *occurrences, int is_array, int depth, Py_ssize_t *size) {
    PyObject *result = is_array ? PyList_New(0) : PyDict_New();
    if (result == NULL) return NULL;
    *size = 0;
    for (Py_ssize_t i = 0; i < occurrences->count; i++) {
        Reader payload = occurrences->items[i];
        while (payload.p < payload.end) {
            const uint8_t *start = payload.p;
            uint32_t field;
            int wire_type;
            Reader item;
            Py_ssize_t item_size;
            if (read_tag(&payload, &field, &wire_type) < 0) goto error;
            if (field != 1 || wire_type != WIRE_LEN) {
                if (skip_kept_field(&payload, field, wire_type) < 0) goto error;
                *size += payload.p - start; /* the runtime keeps unknown fields as they came */
                continue;
            }
            if (enter_message(&payload, &item, RUNTIME_NESTING) < 0) goto error;
            if (is_array) {
                Segments single;
                segments_init(&single);
                segments_replace(&single, &item);
                PyObject *value = any_value(&single, depth + 1, NULL, &item_size);
                if (value == NULL) goto error;
                int appended = PyList_Append(result, value);
                Py_DECREF(value);
                if (appended < 0) goto error;
            } else if (add_key_value(result, &item, depth + 1, NULL, &item_size) < 0) {
                goto error;
            }
            *size += delimited_size(item_size);
        }
    }
    return result;
error:
    Py_DECREF(result);
    return NULL;
}

/* AnyValue -> str | int | float | bool | list | dict | None, as convert.common.any_value; *size is
 * its encoded size as the runtime would encode what is kept (the capping measure). */
static PyObject *any_value(const Segments *message, int depth, int *kind_seen, Py_ssize_t *size) {
    int kind = 0;     /* the oneof field number seen last */
    Segments payload; /* the chosen member's occurrences: several only for arrays and kvlists */
    uint64_t number = 0;
    Py_ssize_t unknown = 0, member = 0;
    int deepest = 0; /* of groups in unknown fields: they count only if the value is kept */
    PyObject *result = NULL;
    segments_init(&payload);
    for (Py_ssize_t i = 0; i < message->count; i++) {
        Reader r = message->items[i];
        while (r.p < r.end) {
            const uint8_t *start = r.p;
            uint32_t field;
            int wire_type;
            Reader next;
            if (read_tag(&r, &field, &wire_type) < 0) goto error;
            if (member_wire_type(field) != wire_type) {
                if (skip_field(&r, field, wire_type, MAX_NESTING, &deepest) < 0) goto error;
                unknown += r.p - start;
                continue;
            }
            /* A member merges into the last only as the same array or key-value list. */
            int merges = (field == 5 || field == 6) && kind == (int)field;
            if (!merges && (kind == 1 || kind == 5 || kind == 6) && check_replaced_member(kind, &payload) < 0)
                goto error;
            if (wire_type == WIRE_VARINT) {
                if (read_varint(&r, &number) < 0) goto error;
            } else if (wire_type == WIRE_FIXED64) {
                if (read_fixed(&r, &number, 8) < 0) goto error;
            } else {
                if (field == 5 || field == 6 ? enter_message(&r, &next, MAX_NESTING) < 0
                                             : read_length_delimited(&r, &next) < 0)
                    goto error;
                if (merges) {
                    if (segments_append(&payload, &next) < 0) goto error;
                } else {
                    segments_replace(&payload, &next);
                }
            }
            kind = (int)field;
        }
    }
    if (kind_seen != NULL) *kind_seen = kind;
    if ((kind == 5 || kind == 6) && depth >= MAX_DEPTH) {
        /* Kept as the marker alone: what it holds is read only to be checked. */
        if (check_replaced_member(kind, &payload) < 0) goto error;
        *size = TooDeepSize;
        result = Py_NewRef(TooDeep);
        goto done;
    }
    if (deepest > RUNTIME_NESTING) {
        fail("messages nested too deep");
        goto error;
    }
    switch (kind) {
    case 1:
        result = text_from(&payload.items[0]);
        member = delimited_size(payload.items[0].end - payload.items[0].p);
        break;
    case 2:
        result = PyBool_FromLong(number != 0);
        member = 2;
        break;
    case 3:
        result = PyLong_FromLongLong((long long)(int64_t)number);
        member = 1 + varint_size(number);
        break;
    case 4: {
        double value;
        memcpy(&value, &number, sizeof value);
        result = PyFloat_FromDouble(value);
        member = 9;
        break;
    }
    case 5:
    case 6: {
        Py_ssize_t inner = 0;
        result = array_or_kvlist(&payload, kind == 5, depth, &inner);
        member = delimited_size(inner);
        break;
    }
    case 7:
        result = base64_text(&payload.items[0]);
        member = delimited_size(payload.items[0].end - payload.items[0].p);
        break;
    default:
        result = Py_NewRef(Py_None);
        member = kind == 8 ? 1 + int32_varint_size(number) : 0;
    }
    *size = member + unknown;
    goto done;
error:
    Py_CLEAR(result);
done:
    segments_free(&payload);
    return result;
}

/* One KeyValue into dict; *size is its encoded size as kept. With options (an attribute list's
 * top level), values above the byte cap are capped as convert.common.attributes does; nested
 * key-value lists pass NULL. */
static int add_key_value(PyObject *dict, Reader *r, int depth, const Options *options, Py_ssize_t *size) {
    PyObject *key = NULL, *value = NULL;
    Segments value_occurrences;
    uint64_t key_index = 0;
    Py_ssize_t key_length = 0, unknown = 0, value_size = 0;
    segments_init(&value_occurrences);
    while (r->p < r->end) {
        const uint8_t *start = r->p;
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (field == 1 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || store(&key, shared_text_from(&payload)) < 0) goto error;
            key_length = payload.end - payload.p;
        } else if (field == 2 && wire_type == WIRE_LEN) {
            if (enter_message(r, &payload, RUNTIME_NESTING) < 0 || segments_append(&value_occurrences, &payload) < 0)
                goto error;
        } else if (field == 3 && wire_type == WIRE_VARINT) { /* key_strindex (profiles): only measured */
            if (read_varint(r, &key_index) < 0) goto error;
        } else {
            if (skip_kept_field(r, field, wire_type) < 0) goto error;
            unknown += r->p - start;
        }
    }
    or_default(&key, empty_text);
    if (value_occurrences.count > 0) {
        int kind = 0;
        value = any_value(&value_occurrences, depth, &kind, &value_size);
        if (value == NULL) goto error;
        if (options != NULL && (kind == 1 || (kind >= 5 && kind <= 7))) {
            /* Strings by characters, arrays, key-value lists and bytes by encoded size, as
             * convert.common.attributes measures them. */
            int over = kind == 1 ? PyUnicode_GET_LENGTH(value) > options->max_bytes : value_size > options->max_bytes;
            if (over) {
                PyObject *capped = PyObject_CallFunction(options->capped_value, "OnO", value, options->max_bytes,
                                                         kind == 1 ? Py_True : Py_False);
                if (store(&value, capped) < 0) goto error;
            }
        }
    } else {
        value = Py_NewRef(Py_None);
    }
    if (PyDict_SetItem(dict, key, value) < 0) goto error;
    if (size != NULL) {
        *size = (key_length ? delimited_size(key_length) : 0) +
                (value_occurrences.count ? delimited_size(value_size) : 0) +
                ((uint32_t)key_index ? 1 + int32_varint_size(key_index) : 0) + unknown;
    }
    Py_DECREF(key);
    Py_DECREF(value);
    segments_free(&value_occurrences);
    return 0;
error:
    Py_XDECREF(key);
    Py_XDECREF(value);
    segments_free(&value_occurrences);
    return -1;
}

/* A repeated KeyValue field's next element, into *dict (created on first use). */
static int add_attribute(PyObject **dict, Reader *r, const Options *options) {
    Reader item;
    if (enter_message(r, &item, RUNTIME_NESTING) < 0) return -1;
    if (or_default(dict, PyDict_New) < 0) return -1;
    return add_key_value(*dict, &item, 0, options, NULL);
}

static PyObject *unsigned_long(uint64_t value) {
    return PyLong_FromUnsignedLongLong(value);
}

/* Event -> (time_unix_nano, name, attributes, dropped_attributes_count) */
static PyObject *decode_event(Reader *r, const Options *options) {
    uint64_t time = 0, dropped = 0;
    PyObject *name = NULL, *attributes = NULL;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (field == 1 && wire_type == WIRE_FIXED64) {
            if (read_fixed(r, &time, 8) < 0) goto error;
        } else if (field == 2 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || store(&name, shared_text_from(&payload)) < 0) goto error;
        } else if (field == 3 && wire_type == WIRE_LEN) {
            if (add_attribute(&attributes, r, options) < 0) goto error;
        } else if (field == 4 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &dropped) < 0) goto error;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            goto error;
        }
    }
    or_default(&name, empty_text);
    if (or_default(&attributes, PyDict_New) < 0) goto error;
    return Py_BuildValue("(NNNN)", unsigned_long(time), name, attributes, unsigned_long((uint32_t)dropped));
error:
    Py_XDECREF(name);
    Py_XDECREF(attributes);
    return NULL;
}

/* Link -> (trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags) */
static PyObject *decode_link(Reader *r, const Options *options) {
    uint64_t dropped = 0;
    uint32_t flags = 0;
    PyObject *trace_id = NULL, *span_id = NULL, *trace_state = NULL, *attributes = NULL;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (field == 4 && wire_type == WIRE_LEN) {
            if (add_attribute(&attributes, r, options) < 0) goto error;
        } else if (field <= 3 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0) goto error;
            PyObject **slot = field == 1 ? &trace_id : field == 2 ? &span_id : &trace_state;
            if (store(slot, field == 3 ? text_from(&payload) : bytes_from(&payload)) < 0) goto error;
        } else if (field == 5 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &dropped) < 0) goto error;
        } else if (field == 6 && wire_type == WIRE_FIXED32) {
            if (read_fixed(r, &flags, 4) < 0) goto error;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            goto error;
        }
    }
    or_default(&trace_state, empty_text);
    if (or_default(&trace_id, empty_bytes) < 0 || or_default(&span_id, empty_bytes) < 0 ||
        or_default(&attributes, PyDict_New) < 0)
        goto error;
    return Py_BuildValue("(NNNNNN)", trace_id, span_id, trace_state, attributes,
                         unsigned_long((uint32_t)dropped), unsigned_long(flags));
error:
    Py_XDECREF(trace_id);
    Py_XDECREF(span_id);
    Py_XDECREF(trace_state);
    Py_XDECREF(attributes);
    return NULL;
}

static int append_decoded(PyObject **list, PyObject *item) {
    if (item == NULL) return -1;
    if (or_default(list, empty_list) < 0) {
        Py_DECREF(item);
        return -1;
    }
    int appended = PyList_Append(*list, item);
    Py_DECREF(item);
    return appended;
}


static int decode_status(Reader *r, PyObject **message, int32_t *code) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        uint64_t number;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field == 2 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || store(message, text_from(&payload)) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_VARINT) {
            if (read_varint(r, &number) < 0) return -1;
            *code = (int32_t)number;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *decode_span(Reader *r, const Options *options) {
    PyObject *objects[SPAN_FIELDS] = {NULL};
    uint64_t start = 0, end = 0, dropped_attributes = 0, dropped_events = 0, dropped_links = 0, kind = 0;
    uint32_t flags = 0;
    int32_t status_code = 0;
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) goto error;
        if (wire_type == WIRE_LEN && (field <= 5 || field == 9 || field == 11 || field == 13 || field == 15)) {
            if (field == 9) {
                if (add_attribute(&objects[SPAN_ATTRIBUTES], r, options) < 0) goto error;
                continue;
            }
            if (field >= 11 ? enter_message(r, &payload, RUNTIME_NESTING) < 0 : read_length_delimited(r, &payload) < 0)
                goto error;
            switch (field) {
            case 1: /* trace_id, span_id, trace_state, parent_span_id, name */
            case 2:
            case 3:
            case 4:
            case 5: {
                static const int slot_of[] = {-1, SPAN_TRACE_ID, SPAN_SPAN_ID, SPAN_TRACE_STATE,
                                              SPAN_PARENT_SPAN_ID, SPAN_NAME};
                PyObject *value = field == 5 ? shared_text_from(&payload)
                                  : field == 3 ? text_from(&payload)
                                               : bytes_from(&payload);
                if (store(&objects[slot_of[field]], value) < 0) goto error;
                break;
            }
            case 11:
                if (append_decoded(&objects[SPAN_EVENTS], decode_event(&payload, options)) < 0) goto error;
                break;
            case 13:
                if (append_decoded(&objects[SPAN_LINKS], decode_link(&payload, options)) < 0) goto error;
                break;
            case 15:
                if (decode_status(&payload, &objects[SPAN_STATUS_MESSAGE], &status_code) < 0) goto error;
                break;
            }
        } else if (wire_type == WIRE_FIXED64 && (field == 7 || field == 8)) {
            if (read_fixed(r, field == 7 ? &start : &end, 8) < 0) goto error;
        } else if (wire_type == WIRE_FIXED32 && field == 16) {
            if (read_fixed(r, &flags, 4) < 0) goto error;
        } else if (wire_type == WIRE_VARINT && (field == 6 || field == 10 || field == 12 || field == 14)) {
            uint64_t *target = field == 6    ? &kind
                               : field == 10 ? &dropped_attributes
                               : field == 12 ? &dropped_events
                                             : &dropped_links;
            if (read_varint(r, target) < 0) goto error;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            goto error;
        }
    }
    or_default(&objects[SPAN_TRACE_STATE], empty_text);
    or_default(&objects[SPAN_NAME], empty_text);
    or_default(&objects[SPAN_STATUS_MESSAGE], empty_text);
    if (or_default(&objects[SPAN_TRACE_ID], empty_bytes) < 0 || or_default(&objects[SPAN_SPAN_ID], empty_bytes) < 0 ||
        or_default(&objects[SPAN_PARENT_SPAN_ID], empty_bytes) < 0 ||
        or_default(&objects[SPAN_ATTRIBUTES], PyDict_New) < 0 || or_default(&objects[SPAN_EVENTS], empty_list) < 0 ||
        or_default(&objects[SPAN_LINKS], empty_list) < 0)
        goto error;
    if ((objects[SPAN_FLAGS] = unsigned_long(flags)) == NULL) goto error;
    if ((objects[SPAN_KIND] = PyLong_FromLong((int32_t)kind)) == NULL) goto error;
    if ((objects[SPAN_START] = unsigned_long(start)) == NULL) goto error;
    if ((objects[SPAN_END] = unsigned_long(end)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_ATTRIBUTES] = unsigned_long((uint32_t)dropped_attributes)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_EVENTS] = unsigned_long((uint32_t)dropped_events)) == NULL) goto error;
    if ((objects[SPAN_DROPPED_LINKS] = unsigned_long((uint32_t)dropped_links)) == NULL) goto error;
    if ((objects[SPAN_STATUS_CODE] = PyLong_FromLong(status_code)) == NULL) goto error;
    PyObject *span = PyTuple_New(SPAN_FIELDS);
    if (span == NULL) goto error;
    for (int i = 0; i < SPAN_FIELDS; i++) PyTuple_SET_ITEM(span, i, objects[i]);
    return span;
error:
    for (int i = 0; i < SPAN_FIELDS; i++) Py_XDECREF(objects[i]);
    return NULL;
}

/* InstrumentationScope -> name and version (its attributes are read to be checked, not kept). */
static int decode_scope(Reader *r, PyObject **name, PyObject **version, const Options *options) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if ((field == 1 || field == 2) && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0) return -1;
            if (store(field == 1 ? name : version, text_from(&payload)) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_LEN) {
            PyObject *ignored = NULL;
            int added = add_attribute(&ignored, r, options);
            Py_XDECREF(ignored);
            if (added < 0) return -1;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            return -1;
        }
    }
    return 0;
}

/* EntityRef: not kept, but checked: its string fields (1 to 4) must be UTF-8; the rest is
 * skipped, as unknown fields are. */
static int check_entity_ref(Reader *r) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field >= 1 && field <= 4 && wire_type == WIRE_LEN) {
            if (read_length_delimited(r, &payload) < 0 || check_text(&payload) < 0) return -1;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Resource -> its attributes, into *attributes (the second slot is unused: see decode_grouping). */
static int decode_resource(Reader *r, PyObject **attributes, PyObject **Py_UNUSED(unused),
                           const Options *options) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field == 1 && wire_type == WIRE_LEN) {
            if (add_attribute(attributes, r, options) < 0) return -1;
        } else if (field == 3 && wire_type == WIRE_LEN) { /* entity_refs: not kept, but checked */
            if (enter_message(r, &payload, RUNTIME_NESTING) < 0 || check_entity_ref(&payload) < 0) return -1;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            return -1;
        }
    }
    return 0;
}

typedef int (*HeaderDecoder)(Reader *, PyObject **, PyObject **, const Options *);
typedef PyObject *(*ChildDecoder)(Reader *, const Options *);

/* ResourceSpans and ScopeSpans share a layout: 1 a header (resource or scope), read into two
 * slots; 2 the repeated children (scope spans or spans); 3 schema_url, only checked. */
static int decode_grouping(Reader *r, const Options *options, HeaderDecoder header, PyObject **first,
                           PyObject **second, ChildDecoder child, PyObject **children) {
    while (r->p < r->end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        if (field >= 1 && field <= 3 && wire_type == WIRE_LEN) {
            if (field == 3 ? read_length_delimited(r, &payload) < 0 : enter_message(r, &payload, RUNTIME_NESTING) < 0)
                return -1;
            int done = field == 1   ? header(&payload, first, second, options)
                       : field == 2 ? append_decoded(children, child(&payload, options))
                                    : check_text(&payload);
            if (done < 0) return -1;
        } else if (skip_kept_field(r, field, wire_type) < 0) {
            return -1;
        }
    }
    return or_default(children, empty_list);
}

/* ScopeSpans -> (scope_name, scope_version, [span, ...]) */
static PyObject *decode_scope_spans(Reader *r, const Options *options) {
    PyObject *name = NULL, *version = NULL, *spans = NULL;
    if (decode_grouping(r, options, decode_scope, &name, &version, decode_span, &spans) < 0) {
        Py_XDECREF(name);
        Py_XDECREF(version);
        Py_XDECREF(spans);
        return NULL;
    }
    or_default(&name, empty_text);
    or_default(&version, empty_text);
    return Py_BuildValue("(NNN)", name, version, spans);
}

/* ResourceSpans -> (resource_attributes, [scope_spans, ...]) */
static PyObject *decode_resource_spans(Reader *r, const Options *options) {
    PyObject *attributes = NULL, *scopes = NULL;
    if (decode_grouping(r, options, decode_resource, &attributes, NULL, decode_scope_spans, &scopes) < 0 ||
        or_default(&attributes, PyDict_New) < 0) {
        Py_XDECREF(attributes);
        Py_XDECREF(scopes);
        return NULL;
    }
    return Py_BuildValue("(NN)", attributes, scopes);
}

static PyObject *decode_traces(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer buffer;
    Options options;
    if (!PyArg_ParseTuple(args, "y*nO:decode_traces", &buffer, &options.max_bytes, &options.capped_value))
        return NULL;
    Reader r = {(const uint8_t *)buffer.buf, (const uint8_t *)buffer.buf + buffer.len, 1};
    PyObject *resources = PyList_New(0);
    if (resources == NULL) goto done;
    while (r.p < r.end) {
        uint32_t field;
        int wire_type;
        Reader payload;
        if (read_tag(&r, &field, &wire_type) < 0) goto error;
        if (field == 1 && wire_type == WIRE_LEN) {
            if (enter_message(&r, &payload, RUNTIME_NESTING) < 0) goto error;
            if (append_decoded(&resources, decode_resource_spans(&payload, &options)) < 0) goto error;
        } else if (skip_kept_field(&r, field, wire_type) < 0) {
            goto error;
        }
    }
    goto done;
error:
    Py_CLEAR(resources);
done:
    PyBuffer_Release(&buffer);
    return resources;
}

/* The request rewritten for the protobuf runtime (convert/nesting.py): every AnyValue nested
 * deeper than MAX_DEPTH that holds an array or a key-value list becomes the marker string, and
 * oneof members a later member replaces are left out; both are checked first, to MAX_NESTING
 * levels. What the runtime then parses is what this file's decoder keeps. Everything else is
 * copied as it came: the runtime judges it. Lengths of rewritten messages take 5 bytes, a varint
 * padded with continuation bits (the runtime reads lengths of up to 5 bytes), so each is written
 * once, in place. */

typedef struct {
    uint8_t *data;
    Py_ssize_t size, capacity;
} Output;

static int out_reserve(Output *o, Py_ssize_t extra) {
    if (o->size + extra <= o->capacity) return 0;
    Py_ssize_t capacity = o->capacity ? o->capacity : 256;
    while (capacity < o->size + extra) capacity *= 2;
    uint8_t *data = PyMem_Realloc(o->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->data = data;
    o->capacity = capacity;
    return 0;
}

static int out_write(Output *o, const uint8_t *p, Py_ssize_t n) {
    if (out_reserve(o, n) < 0) return -1;
    memcpy(o->data + o->size, p, n);
    o->size += n;
    return 0;
}

static int out_varint(Output *o, uint64_t value) {
    uint8_t encoded[10];
    int n = 0;
    while (value >= 0x80) {
        encoded[n++] = (uint8_t)(value & 0x7f) | 0x80;
        value >>= 7;
    }
    encoded[n++] = (uint8_t)value;
    return out_write(o, encoded, n);
}

/* The 5 bytes of a length written once what it measures is: returns where they are. */
static Py_ssize_t out_open_length(Output *o) {
    if (out_reserve(o, 5) < 0) return -1;
    o->size += 5;
    return o->size - 5;
}

static int out_close_length(Output *o, Py_ssize_t at) {
    if (at < 0) return -1;
    Py_ssize_t length = o->size - at - 5;
    if (length > INT32_MAX) return fail("rewritten message over 2 GiB");
    for (int i = 0; i < 4; i++) o->data[at + i] = (uint8_t)((length >> (7 * i)) & 0x7f) | 0x80;
    o->data[at + 4] = (uint8_t)(length >> 28);
    return 0;
}

/* The AnyValue that holds only the marker, behind its length. */
static int out_marker_value(Output *o) {
    Py_ssize_t length;
    const char *marker = PyUnicode_AsUTF8AndSize(TooDeep, &length);
    if (marker == NULL || out_varint(o, (uint64_t)TooDeepSize) < 0 || out_varint(o, 0x0a) < 0 ||
        out_varint(o, (uint64_t)length) < 0)
        return -1;
    return out_write(o, (const uint8_t *)marker, length);
}

/* The messages on the way from a request to its AnyValues, and which field leads where. */
enum { M_TRACES, M_RESOURCE_SPANS, M_SCOPE_SPANS, M_SPAN, M_EVENT, M_LINK, M_RESOURCE, M_SCOPE, M_METRICS,
       M_RESOURCE_METRICS, M_SCOPE_METRICS, M_METRIC, M_NUMBER_POINTS, M_HISTOGRAM_POINTS, M_EXPONENTIAL_POINTS,
       M_SUMMARY_POINTS, M_NUMBER_POINT, M_HISTOGRAM_POINT, M_EXPONENTIAL_POINT, M_SUMMARY_POINT, M_EXEMPLAR, M_LOGS,
       M_RESOURCE_LOGS, M_SCOPE_LOGS, M_LOG_RECORD, M_KEY_VALUE, M_ANY_VALUE, M_TYPES };

typedef struct {
    uint32_t field; /* 0 ends a list */
    int type;
} Path;

static const Path Paths[M_TYPES][6] = {
    [M_TRACES] = {{1, M_RESOURCE_SPANS}},
    [M_RESOURCE_SPANS] = {{1, M_RESOURCE}, {2, M_SCOPE_SPANS}},
    [M_SCOPE_SPANS] = {{1, M_SCOPE}, {2, M_SPAN}},
    [M_SPAN] = {{9, M_KEY_VALUE}, {11, M_EVENT}, {13, M_LINK}},
    [M_EVENT] = {{3, M_KEY_VALUE}},
    [M_LINK] = {{4, M_KEY_VALUE}},
    [M_RESOURCE] = {{1, M_KEY_VALUE}},
    [M_SCOPE] = {{3, M_KEY_VALUE}},
    [M_METRICS] = {{1, M_RESOURCE_METRICS}},
    [M_RESOURCE_METRICS] = {{1, M_RESOURCE}, {2, M_SCOPE_METRICS}},
    [M_SCOPE_METRICS] = {{1, M_SCOPE}, {2, M_METRIC}},
    [M_METRIC] = {{5, M_NUMBER_POINTS}, {7, M_NUMBER_POINTS}, {9, M_HISTOGRAM_POINTS}, {10, M_EXPONENTIAL_POINTS},
                  {11, M_SUMMARY_POINTS}, {12, M_KEY_VALUE}},
    [M_NUMBER_POINTS] = {{1, M_NUMBER_POINT}},
    [M_HISTOGRAM_POINTS] = {{1, M_HISTOGRAM_POINT}},
    [M_EXPONENTIAL_POINTS] = {{1, M_EXPONENTIAL_POINT}},
    [M_SUMMARY_POINTS] = {{1, M_SUMMARY_POINT}},
    [M_NUMBER_POINT] = {{7, M_KEY_VALUE}, {5, M_EXEMPLAR}},
    [M_HISTOGRAM_POINT] = {{9, M_KEY_VALUE}, {8, M_EXEMPLAR}},
    [M_EXPONENTIAL_POINT] = {{1, M_KEY_VALUE}, {11, M_EXEMPLAR}},
    [M_SUMMARY_POINT] = {{7, M_KEY_VALUE}},
    [M_EXEMPLAR] = {{7, M_KEY_VALUE}},
    [M_LOGS] = {{1, M_RESOURCE_LOGS}},
    [M_RESOURCE_LOGS] = {{1, M_RESOURCE}, {2, M_SCOPE_LOGS}},
    [M_SCOPE_LOGS] = {{1, M_SCOPE}, {2, M_LOG_RECORD}},
    [M_LOG_RECORD] = {{6, M_KEY_VALUE}, {5, M_ANY_VALUE}},
    [M_KEY_VALUE] = {{2, M_ANY_VALUE}},
};

/* Where field of a message of type leads, or -1. */
static int path_of(int type, uint32_t field) {
    for (int i = 0; i < 6 && Paths[type][i].field; i++)
        if (Paths[type][i].field == field) return Paths[type][i].type;
    return -1;
}

/* The field holding a message's singular AnyValue (KeyValue.value, LogRecord.body), or 0. */
static uint32_t value_field_of(int type) {
    for (int i = 0; i < 6 && Paths[type][i].field; i++)
        if (Paths[type][i].type == M_ANY_VALUE) return Paths[type][i].field;
    return 0;
}

/* The member an AnyValue ends with, and from which of its fields on (counted over all its
 * occurrences) the occurrences of that member merge: earlier ones were replaced. */
typedef struct {
    int kind;
    Py_ssize_t run_start;
} ValuePlan;

static int plan_value(const Segments *occurrences, ValuePlan *plan) {
    Py_ssize_t ordinal = 0;
    plan->kind = 0;
    plan->run_start = 0;
    for (Py_ssize_t i = 0; i < occurrences->count; i++) {
        Reader r = occurrences->items[i];
        while (r.p < r.end) {
            uint32_t field;
            int wire_type;
            if (read_tag(&r, &field, &wire_type) < 0) return -1;
            if (member_wire_type(field) == wire_type && !((field == 5 || field == 6) && plan->kind == (int)field)) {
                plan->kind = (int)field;
                plan->run_start = ordinal;
            }
            if (skip_field(&r, field, wire_type, MAX_NESTING, NULL) < 0) return -1;
            ordinal++;
        }
    }
    return 0;
}

static int becomes_marker(const ValuePlan *plan, int depth) {
    return depth >= MAX_DEPTH && (plan->kind == 5 || plan->kind == 6);
}

/* A value about to become the marker is checked whole first. */
static int check_values(const Segments *occurrences) {
    for (Py_ssize_t i = 0; i < occurrences->count; i++) {
        Reader r = occurrences->items[i];
        if (check_nested(&r, CHECK_ANY_VALUE, 0, MAX_NESTING, NULL) < 0) return -1;
    }
    return 0;
}

static int rewrite_message(Reader *r, int type, int depth, Output *o);

static int rewrite_value_occurrence(Reader *r, const ValuePlan *plan, Py_ssize_t *ordinal, int depth, Output *o);

/* An ArrayValue's or KeyValueList's fields, their items rewritten one level deeper. */
static int rewrite_items(Reader *r, int is_array, int depth, Output *o) {
    while (r->p < r->end) {
        const uint8_t *start = r->p;
        uint32_t field;
        int wire_type;
        Reader item;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        const uint8_t *tag_end = r->p;
        if (field != 1 || wire_type != WIRE_LEN) {
            if (skip_field(r, field, wire_type, MAX_NESTING, NULL) < 0 || out_write(o, start, r->p - start) < 0)
                return -1;
            continue;
        }
        if (enter_message(r, &item, MAX_NESTING) < 0 || out_write(o, start, tag_end - start) < 0) return -1;
        if (!is_array) {
            Py_ssize_t at = out_open_length(o);
            if (rewrite_message(&item, M_KEY_VALUE, depth + 1, o) < 0 || out_close_length(o, at) < 0) return -1;
            continue;
        }
        Segments single;
        ValuePlan plan;
        Py_ssize_t ordinal = 0;
        segments_init(&single);
        segments_replace(&single, &item);
        if (plan_value(&single, &plan) < 0) return -1;
        if (becomes_marker(&plan, depth + 1)) {
            if (check_values(&single) < 0 || out_marker_value(o) < 0) return -1;
            continue;
        }
        Py_ssize_t at = out_open_length(o);
        if (rewrite_value_occurrence(&item, &plan, &ordinal, depth + 1, o) < 0 || out_close_length(o, at) < 0)
            return -1;
    }
    return 0;
}

/* One occurrence of an AnyValue that is kept: its array or key-value list rewritten if it is the
 * member the value ends with, left out (checked) if a later member replaced it. */
static int rewrite_value_occurrence(Reader *r, const ValuePlan *plan, Py_ssize_t *ordinal, int depth, Output *o) {
    while (r->p < r->end) {
        const uint8_t *start = r->p;
        uint32_t field;
        int wire_type;
        Reader member;
        if (read_tag(r, &field, &wire_type) < 0) return -1;
        const uint8_t *tag_end = r->p;
        if (wire_type == WIRE_LEN && (field == 5 || field == 6)) {
            if (enter_message(r, &member, MAX_NESTING) < 0) return -1;
            if ((int)field == plan->kind && *ordinal >= plan->run_start) {
                Py_ssize_t at;
                if (out_write(o, start, tag_end - start) < 0 || (at = out_open_length(o)) < 0 ||
                    rewrite_items(&member, field == 5, depth, o) < 0 || out_close_length(o, at) < 0)
                    return -1;
            } else if (check_nested(&member, field == 5 ? CHECK_ARRAY : CHECK_KVLIST, 0, MAX_NESTING, NULL) < 0) {
                return -1;
            }
        } else if (skip_field(r, field, wire_type, MAX_NESTING, NULL) < 0 || out_write(o, start, r->p - start) < 0) {
            return -1;
        }
        (*ordinal)++;
    }
    return 0;
}

/* A message on the way to AnyValues (its level in r->nesting), rewritten field by field; `depth`
 * is the nesting of its own AnyValue (a KeyValue's value, a log record's body), if it has one. */
static int rewrite_message(Reader *r, int type, int depth, Output *o) {
    uint32_t value_field = value_field_of(type);
    Segments values;
    ValuePlan plan = {0, 0};
    Py_ssize_t ordinal = 0;
    int result = -1, marker = 0, marker_written = 0;
    segments_init(&values);
    if (value_field) {
        Reader scan = *r;
        while (scan.p < scan.end) {
            uint32_t field;
            int wire_type;
            Reader value;
            if (read_tag(&scan, &field, &wire_type) < 0) goto done;
            if (field == value_field && wire_type == WIRE_LEN) {
                if (enter_message(&scan, &value, MAX_NESTING) < 0 || segments_append(&values, &value) < 0) goto done;
            } else if (skip_field(&scan, field, wire_type, MAX_NESTING, NULL) < 0) {
                goto done;
            }
        }
        if (plan_value(&values, &plan) < 0) goto done;
        marker = becomes_marker(&plan, depth);
        if (marker && check_values(&values) < 0) goto done;
    }
    while (r->p < r->end) {
        const uint8_t *start = r->p;
        uint32_t field;
        int wire_type;
        Reader inner;
        if (read_tag(r, &field, &wire_type) < 0) goto done;
        const uint8_t *tag_end = r->p;
        int child = wire_type == WIRE_LEN ? path_of(type, field) : -1;
        if (child < 0) {
            if (skip_field(r, field, wire_type, MAX_NESTING, NULL) < 0 || out_write(o, start, r->p - start) < 0)
                goto done;
            continue;
        }
        if (enter_message(r, &inner, MAX_NESTING) < 0) goto done;
        if (child == M_ANY_VALUE && marker) { /* the marker once, in the first occurrence's place */
            if (!marker_written && (out_write(o, start, tag_end - start) < 0 || out_marker_value(o) < 0)) goto done;
            marker_written = 1;
            continue;
        }
        Py_ssize_t at;
        if (out_write(o, start, tag_end - start) < 0 || (at = out_open_length(o)) < 0) goto done;
        int rewritten = child == M_ANY_VALUE ? rewrite_value_occurrence(&inner, &plan, &ordinal, depth, o)
                                             : rewrite_message(&inner, child, depth, o);
        if (rewritten < 0 || out_close_length(o, at) < 0) goto done;
    }
    result = 0;
done:
    segments_free(&values);
    return result;
}

static PyObject *flatten_values(PyObject *Py_UNUSED(module), PyObject *args) {
    static const int request_types[] = {M_TRACES, M_METRICS, M_LOGS};
    Py_buffer buffer;
    int signal;
    if (!PyArg_ParseTuple(args, "y*i:flatten_values", &buffer, &signal)) return NULL;
    PyObject *result = NULL;
    Output o = {NULL, 0, 0};
    if (signal < 0 || signal > 2) {
        PyErr_SetString(PyExc_ValueError, "signal: 0 traces, 1 metrics, 2 logs");
    } else {
        Reader r = {(const uint8_t *)buffer.buf, (const uint8_t *)buffer.buf + buffer.len, 1};
        if (rewrite_message(&r, request_types[signal], 0, &o) == 0)
            result = PyBytes_FromStringAndSize((const char *)o.data, o.size);
    }
    PyMem_Free(o.data);
    PyBuffer_Release(&buffer);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_traces", decode_traces, METH_VARARGS,
     "decode_traces(payload, max_attribute_bytes, capped_value) -> [(resource_attributes, "
     "[(scope_name, scope_version, [span, ...]), ...]), ...]"},
    {"flatten_values", flatten_values, METH_VARARGS,
     "flatten_values(payload, signal) -> the request (signal 0 traces, 1 metrics, 2 logs) with values "
     "nested past MAX_DEPTH replaced by TOO_DEEP and replaced oneof members left out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_otlp_wire", "OTLP wire-format decoding into plain Python objects.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_wire(void) {
    static const char *const span_names[SPAN_FIELDS] = SPAN_TUPLE_NAMES;
    static const char *const event_names[EVENT_FIELDS] = EVENT_TUPLE_NAMES;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) return NULL;
    DecodeError = PyErr_NewException("observatory_ingest._otlp_wire.DecodeError", PyExc_ValueError, NULL);
    TooDeep = PyUnicode_FromString("[nested deeper than 16 levels]");
    EmptyText = PyUnicode_FromStringAndSize(NULL, 0);
    if (DecodeError == NULL || TooDeep == NULL || EmptyText == NULL ||
        PyModule_AddObjectRef(module, "DecodeError", DecodeError) < 0 ||
        PyModule_AddObjectRef(module, "TOO_DEEP", TooDeep) < 0 ||
        PyModule_AddIntConstant(module, "MAX_DEPTH", MAX_DEPTH) < 0 ||
        PyModule_AddIntConstant(module, "MAX_NESTING", MAX_NESTING) < 0 ||
        PyModule_AddIntConstant(module, "RUNTIME_NESTING", RUNTIME_NESTING) < 0 ||
        add_layout(module, "SPAN_TUPLE_LAYOUT", span_names, SPAN_FIELDS) < 0 ||
        add_layout(module, "EVENT_TUPLE_LAYOUT", event_names, EVENT_FIELDS) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    TooDeepSize = delimited_size(PyUnicode_GET_LENGTH(TooDeep)); /* ASCII: characters are bytes */
    return module;
}
