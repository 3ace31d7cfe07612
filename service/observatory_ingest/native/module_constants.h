/* Module attributes both extensions export: their layouts (tuples of names, in position order) and
 * constants that Python takes from C rather than defining again. */
#ifndef MODULE_CONSTANTS_H
#define MODULE_CONSTANTS_H

#include <Python.h>

/* PyModule_AddObjectRef for a new reference, which it releases (PyModule_Add from 3.13 on). */
static int add_owned(PyObject *module, const char *name, PyObject *value) {
    if (value == NULL) return -1;
    int added = PyModule_AddObjectRef(module, name, value);
    Py_DECREF(value);
    return added;
}

static int add_layout(PyObject *module, const char *name, const char *const *names, int count) {
    PyObject *layout = PyTuple_New(count);
    if (layout == NULL) return -1;
    for (int i = 0; i < count; i++) {
        PyObject *item = PyUnicode_FromString(names[i]);
        if (item == NULL) {
            Py_DECREF(layout);
            return -1;
        }
        PyTuple_SET_ITEM(layout, i, item);
    }
    return add_owned(module, name, layout);
}

#endif
