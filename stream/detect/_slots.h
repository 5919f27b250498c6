/* What the compiled hot paths (_step.c, _activity.c, _technical.c) share: the state of an
 * instance read and written through its class's __slots__, and bind(), which takes the slot
 * offsets from the class's member descriptors and keeps the pure-Python method for the calls
 * the compiled one hands over.
 *
 * Include it after declaring N_FIELDS (an enum), NAMES (the slot names, in that order) and
 * these three statics of the module: offsets, bound_cls and py_method.
 */
#ifndef VIGIL_SLOTS_H
#define VIGIL_SLOTS_H

#define SLOT(self, i) (*(PyObject **)((char *)(self) + offsets[i]))

/* Replace slot i of self by the new reference o; -1 if o is NULL (an allocation failed). */
static inline int
set_new(PyObject *self, int i, PyObject *o)
{
    if (o == NULL) {
        return -1;
    }
    PyObject **p = (PyObject **)((char *)self + offsets[i]);
    PyObject *old = *p;
    *p = o;
    Py_XDECREF(old);
    return 0;
}

static inline void
set_obj(PyObject *self, int i, PyObject *v)
{
    Py_INCREF(v);
    (void)set_new(self, i, v);
}

static inline int
set_f(PyObject *self, int i, double v)
{
    return set_new(self, i, PyFloat_FromDouble(v));
}

static inline int
set_i(PyObject *self, int i, long v)
{
    return set_new(self, i, PyLong_FromLong(v));
}

/* Slot i, an exact float. */
static inline double
F(PyObject *self, int i)
{
    return PyFloat_AS_DOUBLE(SLOT(self, i));
}

/* Whether the compiled method name() may run: called with n positional arguments (as the
 * method, self first), after bind(). Otherwise the exception is set. */
static int
ready(const char *name, Py_ssize_t nargs, Py_ssize_t n)
{
    if (nargs != n) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd positional arguments", name, n);
        return 0;
    }
    if (bound_cls == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s() before bind()", name);
        return 0;
    }
    return 1;
}

/* bind(cls, method): read the __slots__ offsets of cls and keep method. */
static PyObject *
bind(PyObject *module, PyObject *args)
{
    PyObject *cls, *method;
    if (!PyArg_ParseTuple(args, "O!O:bind", &PyType_Type, &cls, &method)) {
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *d = PyDict_GetItemString(type->tp_dict, NAMES[i]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, NAMES[i]);
            return NULL;
        }
        offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    Py_INCREF(cls);
    Py_XSETREF(bound_cls, type);
    Py_INCREF(method);
    Py_XSETREF(py_method, method);
    Py_RETURN_NONE;
}

/* The module of a compiled method: its function NAME (FUNC, documented by DOC), bind(), and
 * the module definition (PyInit_<MODNAME> creates it with PyModule_Create(&module)). */
#define SLOTS_MODULE(MODNAME, CLS, NAME, FUNC, DOC)                                           \
    PyDoc_STRVAR(bind_doc,                                                                    \
                 "bind(cls, method) -> None\n\n"                                              \
                 "Read the __slots__ offsets of ``cls`` (" CLS ") and keep ``method`` (its "  \
                 "pure-Python\n" NAME ") for the calls " NAME "() hands over.");              \
    static PyMethodDef methods[] = {                                                          \
        {NAME, (PyCFunction)(void (*)(void))FUNC, METH_FASTCALL, DOC},                        \
        {"bind", bind, METH_VARARGS, bind_doc},                                               \
        {NULL, NULL, 0, NULL},                                                                \
    };                                                                                        \
    static struct PyModuleDef module = {                                                      \
        PyModuleDef_HEAD_INIT, MODNAME,                                                       \
        CLS "." NAME ", compiled (see stream/detect/" MODNAME ".c).", -1, methods,           \
        NULL, NULL, NULL, NULL,                                                               \
    };

#endif
