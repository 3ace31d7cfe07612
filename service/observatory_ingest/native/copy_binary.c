/* encode_rows: rows of Python values -> one PostgreSQL binary COPY stream (header, tuples,
 * trailer). asyncpg's copy_records_to_table dispatches every value through a codec object; this
 * does the same work in one C loop. Each value is accepted or refused exactly as asyncpg's binary
 * codec for its type does (same checks, same exception types and messages: store/failures.py
 * treats them as data errors). tests/integration/test_copy_binary.py holds the two to the same
 * stored values. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* One byte per column, chosen by store/copy_format.py from the column's type. */
enum {
    CODE_BOOL = 'b',
    CODE_INT2 = 'h',
    CODE_INT4 = 'i',
    CODE_INT8 = 'q',
    CODE_FLOAT8 = 'd',
    CODE_TEXT = 't',
    CODE_JSONB = 'j',
    CODE_UUID = 'u',
    CODE_TIMESTAMP = 'T', /* (microseconds since 2000-01-01,): the writer's tuple codec form */
    CODE_NUMERIC = 'n',
};

static PyObject *decimal_type; /* decimal.Decimal */

typedef struct {
    char *data;
    Py_ssize_t length, capacity;
} Buffer;

static int reserve(Buffer *buffer, Py_ssize_t more) {
    if (buffer->length + more <= buffer->capacity) return 0;
    Py_ssize_t capacity = buffer->capacity ? buffer->capacity : 4096;
    while (capacity < buffer->length + more) capacity *= 2;
    char *grown = PyMem_Realloc(buffer->data, capacity);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = grown;
    buffer->capacity = capacity;
    return 0;
}

static void put16(Buffer *buffer, uint16_t value) {
    unsigned char *at = (unsigned char *)buffer->data + buffer->length;
    at[0] = value >> 8;
    at[1] = value;
    buffer->length += 2;
}

static void put32(Buffer *buffer, uint32_t value) {
    unsigned char *at = (unsigned char *)buffer->data + buffer->length;
    for (int i = 0; i < 4; i++) at[i] = value >> (24 - 8 * i);
    buffer->length += 4;
}

static void put64(Buffer *buffer, uint64_t value) {
    unsigned char *at = (unsigned char *)buffer->data + buffer->length;
    for (int i = 0; i < 8; i++) at[i] = value >> (56 - 8 * i);
    buffer->length += 8;
}

static int put_bytes(Buffer *buffer, const char *bytes, Py_ssize_t size, int version_byte) {
    if (reserve(buffer, 4 + version_byte + size) < 0) return -1;
    put32(buffer, (uint32_t)(size + version_byte));
    if (version_byte) buffer->data[buffer->length++] = 1; /* jsonb format version */
    memcpy(buffer->data + buffer->length, bytes, size);
    buffer->length += size;
    return 0;
}

/* asyncpg's as_pg_string_and_size: str only, as UTF-8. */
static int put_text(Buffer *buffer, PyObject *value, int version_byte) {
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %s", Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(value, &size);
    if (text == NULL) return -1;
    if (size > 0x7fffffff - version_byte) {
        PyErr_SetString(PyExc_ValueError, "string too long");
        return -1;
    }
    return put_bytes(buffer, text, size, version_byte);
}

/* asyncpg's int codecs: int(value) first for non-int types that have __int__ (floats truncate),
 * then range-checked. Returns -1 with an exception set on failure. */
static int integer_value(PyObject *value, long long low, long long high, const char *range, long long *out) {
    PyObject *number;
    if (PyLong_Check(value)) {
        number = Py_NewRef(value);
    } else if (Py_TYPE(value)->tp_as_number != NULL && Py_TYPE(value)->tp_as_number->nb_int != NULL) {
        number = PyNumber_Long(value);
    } else {
        number = PyNumber_Index(value); /* raises TypeError, as PyLong_AsLong does there */
    }
    if (number == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        PyErr_Format(PyExc_OverflowError, "value out of %s range", range);
        return -1;
    }
    int overflow = 0;
    long long result = PyLong_AsLongLongAndOverflow(number, &overflow);
    Py_DECREF(number);
    if (result == -1 && PyErr_Occurred()) return -1;
    if (overflow || result < low || result > high) {
        PyErr_Format(PyExc_OverflowError, "value out of %s range", range);
        return -1;
    }
    *out = result;
    return 0;
}

static int hex_digit(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* asyncpg's pg_uuid_bytes_from_str for str (32 to 36 characters, hyphens skipped anywhere);
 * anything else by its .bytes, as asyncpg does for uuid.UUID. */
static int put_uuid(Buffer *buffer, PyObject *value) {
    unsigned char out[16];
    if (!PyUnicode_Check(value)) {
        PyObject *raw = PyObject_GetAttrString(value, "bytes");
        if (raw == NULL) return -1;
        char *bytes;
        Py_ssize_t size;
        int failed = PyBytes_AsStringAndSize(raw, &bytes, &size) < 0 || put_bytes(buffer, bytes, size, 0) < 0;
        Py_DECREF(raw);
        return failed ? -1 : 0;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(value, &size);
    if (text == NULL) return -1;
    if (size > 36 || size < 32) {
        PyErr_Format(PyExc_ValueError, "invalid UUID %R: length must be between 32..36 characters, got %zd",
                     value, size);
        return -1;
    }
    int count = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '-') continue;
        int part = hex_digit(ch);
        if (part < 0) {
            if (ch >= 0x20 && ch <= 0x7e) {
                PyErr_Format(PyExc_ValueError, "invalid UUID %R: unexpected character '%c'", value, ch);
            } else {
                PyErr_Format(PyExc_ValueError, "invalid UUID %R: unexpected character", value);
            }
            return -1;
        }
        if (count >= 32) {
            PyErr_Format(PyExc_ValueError, "invalid UUID %R: decodes to more than 16 bytes", value);
            return -1;
        }
        if (count % 2 == 0) {
            out[count / 2] = (unsigned char)(part << 4);
        } else {
            out[count / 2] |= (unsigned char)part;
        }
        count++;
    }
    if (count != 32) {
        PyErr_Format(PyExc_ValueError, "invalid UUID %R: decodes to less than 16 bytes", value);
        return -1;
    }
    return put_bytes(buffer, (const char *)out, 16, 0);
}

/* The writer's codec (tuple(), then asyncpg's timestamp_encode_tuple): a one-element tuple of
 * int64 microseconds. tuple() of a tuple is that tuple. */
static int put_timestamp(Buffer *buffer, PyObject *value) {
    PyObject *parts = PySequence_Tuple(value);
    if (parts == NULL) return -1;
    if (PyTuple_GET_SIZE(parts) != 1) {
        PyErr_Format(PyExc_ValueError, "timestamp tuple encoder: expecting 1 element in tuple, got %zd",
                     PyTuple_GET_SIZE(parts));
        Py_DECREF(parts);
        return -1;
    }
    long long microseconds = PyLong_AsLongLong(PyTuple_GET_ITEM(parts, 0));
    Py_DECREF(parts);
    if (microseconds == -1 && PyErr_Occurred()) return -1;
    if (reserve(buffer, 12) < 0) return -1;
    put32(buffer, 8);
    put64(buffer, (uint64_t)microseconds);
    return 0;
}

#define DEC_DIGITS 4
#define MAX_DSCALE 0x3FFF
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000

static int put_numeric_special(Buffer *buffer, uint16_t sign) {
    if (reserve(buffer, 12) < 0) return -1;
    put32(buffer, 8);
    put16(buffer, 0);
    put16(buffer, 0);
    put16(buffer, sign);
    put16(buffer, 0);
    return 0;
}

static int numeric_error(const char *why) {
    PyErr_Format(PyExc_ValueError, "cannot encode Decimal value into numeric: %s", why);
    return -1;
}

/* asyncpg's numeric_encode_binary: Decimal(value) unless it is one, then its digits in base
 * 10,000 aligned on the decimal point. */
static int put_numeric_digits(Buffer *buffer, PyObject *sign_object, PyObject *digits, long long exponent) {
    if (exponent < 0 && -exponent > MAX_DSCALE) return numeric_error("exponent is too small");
    int negative = PyObject_IsTrue(sign_object);
    if (negative < 0) return -1;
    Py_ssize_t count = PyTuple_GET_SIZE(digits);
    long long dweight = count + exponent - 1;
    long long weight = dweight >= 0 ? (dweight + DEC_DIGITS) / DEC_DIGITS - 1
                                    : -((-dweight - 1) / DEC_DIGITS + 1);
    if (weight > INT16_MAX || weight < INT16_MIN) return numeric_error("exponent is too large");
    long long padding = (weight + 1) * DEC_DIGITS - (dweight + 1);
    long long groups = (count + padding + DEC_DIGITS - 1) / DEC_DIGITS;
    if (groups > INT16_MAX) return numeric_error("number of digits is too large");
    if (reserve(buffer, 12 + 2 * groups) < 0) return -1;
    put32(buffer, (uint32_t)(8 + 2 * groups));
    put16(buffer, (uint16_t)groups);
    put16(buffer, (uint16_t)(int16_t)weight);
    put16(buffer, negative ? NUMERIC_NEG : NUMERIC_POS);
    put16(buffer, (uint16_t)(exponent < 0 ? -exponent : 0));
    /* Decimal digit i of the value sits at position padding + i of the base-10,000 groups. */
    for (long long group = 0; group < groups; group++) {
        int pgdigit = 0;
        for (int place = 0; place < DEC_DIGITS; place++) {
            long long index = group * DEC_DIGITS + place - padding;
            long digit = 0;
            if (index >= 0 && index < count) {
                digit = PyLong_AsLong(PyTuple_GET_ITEM(digits, index));
                if (digit == -1 && PyErr_Occurred()) return -1;
            }
            pgdigit = pgdigit * 10 + (int)digit;
        }
        put16(buffer, (uint16_t)pgdigit);
    }
    return 0;
}

static int put_numeric(Buffer *buffer, PyObject *value) {
    PyObject *decimal = PyObject_TypeCheck(value, (PyTypeObject *)decimal_type)
                            ? Py_NewRef(value)
                            : PyObject_CallOneArg(decimal_type, value);
    if (decimal == NULL) return -1;
    PyObject *parts = PyObject_CallMethod(decimal, "as_tuple", NULL);
    Py_DECREF(decimal);
    if (parts == NULL) return -1;
    int result = -1;
    PyObject *sign = PySequence_GetItem(parts, 0), *digits = PySequence_GetItem(parts, 1),
             *exponent = PySequence_GetItem(parts, 2);
    if (sign == NULL || digits == NULL || exponent == NULL) goto done;
    if (PyUnicode_Check(exponent)) { /* 'n' / 'N' NaN, 'F' infinity */
        if (PyUnicode_CompareWithASCIIString(exponent, "F") == 0) {
            int negative = PyObject_IsTrue(sign);
            if (negative >= 0) result = put_numeric_special(buffer, negative ? NUMERIC_NINF : NUMERIC_PINF);
        } else {
            result = put_numeric_special(buffer, NUMERIC_NAN);
        }
        goto done;
    }
    long long exponent_value = PyLong_AsLongLong(exponent);
    if (exponent_value == -1 && PyErr_Occurred()) goto done;
    if (!PyTuple_Check(digits)) {
        PyErr_SetString(PyExc_TypeError, "Decimal.as_tuple() digits are not a tuple");
        goto done;
    }
    result = put_numeric_digits(buffer, sign, digits, exponent_value);
done:
    Py_XDECREF(sign);
    Py_XDECREF(digits);
    Py_XDECREF(exponent);
    Py_DECREF(parts);
    return result;
}

static int put_value(Buffer *buffer, char code, PyObject *value) {
    long long integer;
    switch (code) {
    case CODE_TEXT:
        return put_text(buffer, value, 0);
    case CODE_JSONB:
        return put_text(buffer, value, 1);
    case CODE_UUID:
        return put_uuid(buffer, value);
    case CODE_TIMESTAMP:
        return put_timestamp(buffer, value);
    case CODE_INT4:
        if (integer_value(value, INT32_MIN, INT32_MAX, "int32", &integer) < 0 || reserve(buffer, 8) < 0) return -1;
        put32(buffer, 4);
        put32(buffer, (uint32_t)integer);
        return 0;
    case CODE_INT8:
        if (integer_value(value, INT64_MIN, INT64_MAX, "int64", &integer) < 0 || reserve(buffer, 12) < 0)
            return -1;
        put32(buffer, 8);
        put64(buffer, (uint64_t)integer);
        return 0;
    case CODE_INT2:
        if (integer_value(value, INT16_MIN, INT16_MAX, "int16", &integer) < 0 || reserve(buffer, 6) < 0) return -1;
        put32(buffer, 2);
        put16(buffer, (uint16_t)integer);
        return 0;
    case CODE_FLOAT8: {
        double number = PyFloat_AsDouble(value);
        if (number == -1.0 && PyErr_Occurred()) return -1;
        uint64_t bits;
        memcpy(&bits, &number, sizeof bits);
        if (reserve(buffer, 12) < 0) return -1;
        put32(buffer, 8);
        put64(buffer, bits);
        return 0;
    }
    case CODE_BOOL:
        if (!PyBool_Check(value)) {
            PyErr_Format(PyExc_TypeError, "a boolean is required (got type %s)", Py_TYPE(value)->tp_name);
            return -1;
        }
        if (reserve(buffer, 5) < 0) return -1;
        put32(buffer, 1);
        buffer->data[buffer->length++] = value == Py_True;
        return 0;
    case CODE_NUMERIC:
        return put_numeric(buffer, value);
    default:
        PyErr_Format(PyExc_ValueError, "unknown column code %c", code);
        return -1;
    }
}

static const char COPY_SIGNATURE[11] = "PGCOPY\n\377\r\n\0";

/* encode_rows(rows: list[tuple], codes: bytes) -> bytes: the whole binary COPY stream. */
static PyObject *encode_rows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "encode_rows(rows: list, codes: bytes)");
        return NULL;
    }
    PyObject *rows = args[0];
    const char *codes = PyBytes_AS_STRING(args[1]);
    Py_ssize_t columns = PyBytes_GET_SIZE(args[1]);
    if (columns > INT16_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many columns");
        return NULL;
    }
    Buffer buffer = {NULL, 0, 0};
    if (reserve(&buffer, sizeof COPY_SIGNATURE + 8) < 0) return NULL;
    memcpy(buffer.data, COPY_SIGNATURE, sizeof COPY_SIGNATURE);
    buffer.length = sizeof COPY_SIGNATURE;
    put32(&buffer, 0); /* flags */
    put32(&buffer, 0); /* header extension length */
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(rows); r++) {
        PyObject *row = PySequence_Fast(PyList_GET_ITEM(rows, r), "a row must be a sequence");
        if (row == NULL) goto failed;
        if (PySequence_Fast_GET_SIZE(row) != columns) {
            PyErr_Format(PyExc_ValueError, "a row has %zd values for %zd columns", PySequence_Fast_GET_SIZE(row),
                         columns);
            Py_DECREF(row);
            goto failed;
        }
        PyObject **values = PySequence_Fast_ITEMS(row);
        if (reserve(&buffer, 2) < 0) {
            Py_DECREF(row);
            goto failed;
        }
        put16(&buffer, (uint16_t)columns);
        for (Py_ssize_t c = 0; c < columns; c++) {
            int failed;
            if (values[c] == Py_None) {
                failed = reserve(&buffer, 4);
                if (!failed) put32(&buffer, 0xFFFFFFFFu); /* NULL */
            } else {
                failed = put_value(&buffer, codes[c], values[c]);
            }
            if (failed) {
                Py_DECREF(row);
                goto failed;
            }
        }
        Py_DECREF(row);
    }
    if (reserve(&buffer, 2) < 0) goto failed;
    put16(&buffer, 0xFFFF); /* trailer */
    PyObject *stream = PyBytes_FromStringAndSize(buffer.data, buffer.length);
    PyMem_Free(buffer.data);
    return stream;
failed:
    PyMem_Free(buffer.data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode_rows", (PyCFunction)(void (*)(void))encode_rows, METH_FASTCALL,
     "encode_rows(rows, codes) -> bytes: a binary COPY stream of rows, one type code per column"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_copy_binary", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__copy_binary(void) {
    PyObject *decimal = PyImport_ImportModule("decimal");
    if (decimal == NULL) return NULL;
    decimal_type = PyObject_GetAttrString(decimal, "Decimal");
    Py_DECREF(decimal);
    if (decimal_type == NULL) return NULL;
    return PyModule_Create(&module);
}
