/* first_values: many genai.first() lookups in one call. Reading an LLM span's fields key by key in
 * Python costs a few hundred interpreter instructions per key; the dict lookups themselves are
 * cheap. tests/unit/test_genai.py holds it to genai.first. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A value genai.first accepts: neither None nor "". */
static int has_value(PyObject *value) {
    return value != Py_None && !(PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) == 0);
}

/* first_values(attributes, fields) -> {name: value} where fields is ((name, (key, ...)), ...):
 * for each name, the value of its first key that attributes holds with a value; names without
 * one are left out. */
static PyObject *first_values(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyDict_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "first_values(attributes: dict, fields: tuple)");
        return NULL;
    }
    PyObject *attributes = args[0], *fields = args[1];
    PyObject *found = PyDict_New();
    if (found == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fields); i++) {
        PyObject *field = PyTuple_GET_ITEM(fields, i);
        if (!PyTuple_Check(field) || PyTuple_GET_SIZE(field) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(field, 1))) {
            PyErr_SetString(PyExc_TypeError, "each field is (name, (key, ...))");
            goto error;
        }
        PyObject *keys = PyTuple_GET_ITEM(field, 1);
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(keys); k++) {
            PyObject *value = PyDict_GetItemWithError(attributes, PyTuple_GET_ITEM(keys, k));
            if (value == NULL) {
                if (PyErr_Occurred()) goto error;
                continue;
            }
            if (has_value(value)) {
                if (PyDict_SetItem(found, PyTuple_GET_ITEM(field, 0), value) < 0) goto error;
                break;
            }
        }
    }
    return found;
error:
    Py_DECREF(found);
    return NULL;
}

static PyMethodDef methods[] = {
    {"first_values", (PyCFunction)(void (*)(void))first_values, METH_FASTCALL,
     "first_values(attributes, ((name, (key, ...)), ...)) -> {name: first value present}"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_attribute_fields", "Several attribute lookups in one call.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__attribute_fields(void) {
    return PyModule_Create(&module_definition);
}
