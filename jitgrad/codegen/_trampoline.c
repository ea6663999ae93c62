/* jitgrad's call path into ahead-of-time kernels (see jitgrad/codegen/aot.py).
 *
 * An AOT kernel is a C function `void jitgrad_kernel(void **args)`: one pointer
 * per input (a 0-d input points at its value), per output (a 0-d output at one
 * element) and per constant array. This module is the CPython side of it, built
 * once per Python version and NumPy version by the C compiler and kept in the
 * cache: `make(...)` turns a kernel's address and its argument plan into three
 * builtin functions.
 *
 *   call(*inputs)            the fast path of `k(...)`: C-contiguous, aligned,
 *                            native arrays of the exact shape and dtype, and
 *                            Python floats for 0-d inputs, go straight to the
 *                            kernel; anything else (lists, integer or strided
 *                            arrays, keywords, a wrong count) goes to the
 *                            Python fallback, which converts or raises.
 *   strict(*inputs)          the same without the fallback (TypeError on a
 *                            mismatch): what the fallback calls once converted.
 *   into(*inputs, *outputs)  writes into caller arrays of the exact shape and
 *                            dtype (a 0-d or 1-element array for a 0-d output).
 *
 * No state beyond the plan: the kernel runs with the GIL held, like a Numba
 * kernel called from Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#define MAX_ARGS 256
#define MAX_DIMS 32

typedef void (*kernel_fn)(void **);

typedef struct {
    int typenum;             /* NPY_DOUBLE or NPY_FLOAT */
    int ndim;                /* 0: a scalar (input: a Python float; output: a float) */
    npy_intp dims[MAX_DIMS];
} spec;

typedef struct {
    kernel_fn fn;
    Py_ssize_t n_in, n_out, n_const;
    spec *in, *out;
    void **cptr;
    PyObject *consts;   /* tuple keeping the constant arrays alive */
    PyObject *fallback; /* callable(*args, **kwargs) */
    int single;
    Py_ssize_t n_temp;     /* scratch arrays of the kernel (its temporaries) */
    Py_ssize_t *temp_off;  /* their byte offsets in one block, 64-byte aligned */
    Py_ssize_t temp_bytes; /* the block's size */
} plan;

#define STACK_SCRATCH 16384

/* Point ptrs[0..n_temp) into scratch memory: `stack` when the block fits, else
 * a new heap block returned in *heap (NULL on no memory, with the error set). */
static int scratch(plan *p, void **ptrs, char *stack, char **heap)
{
    char *base = stack;
    *heap = NULL;
    if (p->temp_bytes > STACK_SCRATCH) {
        *heap = PyMem_Malloc(p->temp_bytes + 64);
        if (*heap == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        base = *heap;
    }
    base = (char *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
    for (Py_ssize_t t = 0; t < p->n_temp; t++)
        ptrs[t] = base + p->temp_off[t];
    return 0;
}

static void plan_free(PyObject *capsule)
{
    plan *p = (plan *)PyCapsule_GetPointer(capsule, NULL);
    if (p == NULL) {
        PyErr_Clear();
        return;
    }
    Py_XDECREF(p->consts);
    Py_XDECREF(p->fallback);
    PyMem_Free(p->in);
    PyMem_Free(p->out);
    PyMem_Free(p->cptr);
    PyMem_Free(p->temp_off);
    PyMem_Free(p);
}

/* 1 if `o` is a native, aligned, C-contiguous array of exactly this type and
 * shape, storing its data address */
static int fast_array(PyObject *o, int typenum, int ndim, const npy_intp *dims, void **ptr)
{
    if (Py_TYPE(o) != &PyArray_Type)
        return 0;
    PyArrayObject *a = (PyArrayObject *)o;
    if (PyArray_TYPE(a) != typenum || PyArray_NDIM(a) != ndim || !PyArray_ISCARRAY_RO(a))
        return 0;
    npy_intp *d = PyArray_DIMS(a);
    for (int k = 0; k < ndim; k++)
        if (d[k] != dims[k])
            return 0;
    *ptr = PyArray_DATA(a);
    return 1;
}

/* 1 if `o` can be passed as is for `s`, storing its address (or value) */
static int fast_input(PyObject *o, const spec *s, void **ptr, double *slot)
{
    if (s->ndim == 0) {
        if (!PyFloat_Check(o))
            return 0;
        double d = PyFloat_AS_DOUBLE(o);
        if (s->typenum == NPY_FLOAT)
            *(float *)slot = (float)d;
        else
            *slot = d;
        *ptr = slot;
        return 1;
    }
    return fast_array(o, s->typenum, s->ndim, s->dims, ptr);
}

static PyObject *run(plan *p, PyObject *const *args, int strict)
{
    void *ptrs[MAX_ARGS];
    double slots[MAX_ARGS]; /* 0-d inputs and outputs */
    PyObject *outs[MAX_ARGS];
    Py_ssize_t i, j;
    for (i = 0; i < p->n_in; i++) {
        if (!fast_input(args[i], &p->in[i], &ptrs[i], &slots[i])) {
            if (strict) {
                PyErr_Format(PyExc_TypeError,
                             "jitgrad AOT kernel: converted input %zd does not match its plan", i);
                return NULL;
            }
            return NULL; /* caller falls back (no error set) */
        }
    }
    for (j = 0; j < p->n_out; j++) {
        spec *s = &p->out[j];
        if (s->ndim == 0) {
            outs[j] = NULL;
            ptrs[p->n_in + j] = &slots[p->n_in + j];
            continue;
        }
        outs[j] = PyArray_SimpleNew(s->ndim, s->dims, s->typenum);
        if (outs[j] == NULL) {
            while (j-- > 0)
                Py_XDECREF(outs[j]);
            return NULL;
        }
        ptrs[p->n_in + j] = PyArray_DATA((PyArrayObject *)outs[j]);
    }
    for (i = 0; i < p->n_const; i++)
        ptrs[p->n_in + p->n_out + i] = p->cptr[i];
    char stack[STACK_SCRATCH + 64], *heap;
    if (scratch(p, &ptrs[p->n_in + p->n_out + p->n_const], stack, &heap) < 0) {
        for (j = 0; j < p->n_out; j++)
            Py_XDECREF(outs[j]);
        return NULL;
    }
    p->fn(ptrs);
    PyMem_Free(heap);
    for (j = 0; j < p->n_out; j++) {
        if (outs[j] != NULL)
            continue;
        double *v = &slots[p->n_in + j];
        outs[j] = PyFloat_FromDouble(p->out[j].typenum == NPY_FLOAT ? (double)*(float *)v : *v);
        if (outs[j] == NULL) {
            for (Py_ssize_t q = 0; q < p->n_out; q++)
                Py_XDECREF(outs[q]);
            return NULL;
        }
    }
    if (p->single)
        return outs[0];
    PyObject *t = PyTuple_New(p->n_out);
    if (t == NULL) {
        for (j = 0; j < p->n_out; j++)
            Py_DECREF(outs[j]);
        return NULL;
    }
    for (j = 0; j < p->n_out; j++)
        PyTuple_SET_ITEM(t, j, outs[j]);
    return t;
}

static PyObject *k_call(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    plan *p = (plan *)PyCapsule_GetPointer(self, NULL);
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (n == p->n_in && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        PyObject *r = run(p, args, 0);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    return PyObject_Vectorcall(p->fallback, args, nargsf, kwnames);
}

static PyObject *k_strict(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    plan *p = (plan *)PyCapsule_GetPointer(self, NULL);
    if (n != p->n_in) {
        PyErr_Format(PyExc_TypeError, "jitgrad AOT kernel: expected %zd inputs, got %zd",
                     p->n_in, n);
        return NULL;
    }
    return run(p, args, 1);
}

static PyObject *k_into(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    plan *p = (plan *)PyCapsule_GetPointer(self, NULL);
    void *ptrs[MAX_ARGS];
    double slots[MAX_ARGS];
    Py_ssize_t i, j;
    if (n != p->n_in + p->n_out) {
        PyErr_Format(PyExc_TypeError, "jitgrad AOT into: expected %zd arrays, got %zd",
                     p->n_in + p->n_out, n);
        return NULL;
    }
    for (i = 0; i < p->n_in; i++)
        if (!fast_input(args[i], &p->in[i], &ptrs[i], &slots[i])) {
            PyErr_Format(PyExc_TypeError, "jitgrad AOT into: input %zd does not match its plan", i);
            return NULL;
        }
    static const npy_intp one[1] = {1};
    for (j = 0; j < p->n_out; j++) {
        const spec *s = &p->out[j];
        PyObject *o = args[p->n_in + j];
        void **ptr = &ptrs[p->n_in + j];
        /* a 0-d output: a 0-d or a 1-element array */
        int ok = s->ndim == 0 ? fast_array(o, s->typenum, 0, NULL, ptr) ||
                                    fast_array(o, s->typenum, 1, one, ptr)
                              : fast_array(o, s->typenum, s->ndim, s->dims, ptr);
        if (!ok || !PyArray_ISWRITEABLE((PyArrayObject *)o)) {
            PyErr_Format(PyExc_ValueError, "jitgrad AOT into: output %zd does not match its plan",
                         j);
            return NULL;
        }
    }
    /* The arrays are C-contiguous: each is the byte range [data, data + nbytes).
     * An output that overlaps an input or another output is left to the Python
     * side (which computes through temporaries, or refuses two outputs in one
     * buffer): the kernel would read what it has already overwritten. */
    for (j = 0; j < p->n_out; j++) {
        PyArrayObject *o = (PyArrayObject *)args[p->n_in + j];
        char *lo = PyArray_BYTES(o), *hi = lo + PyArray_NBYTES(o);
        for (i = 0; i < p->n_in + p->n_out; i++) {
            if (i == p->n_in + j || (i < p->n_in && p->in[i].ndim == 0))
                continue;
            PyArrayObject *a = (PyArrayObject *)args[i];
            char *alo = PyArray_BYTES(a), *ahi = alo + PyArray_NBYTES(a);
            if (alo < hi && lo < ahi && PyArray_NBYTES(a) && PyArray_NBYTES(o)) {
                PyErr_Format(PyExc_ValueError, "jitgrad AOT into: output %zd overlaps argument %zd",
                             j, i);
                return NULL;
            }
        }
    }
    for (i = 0; i < p->n_const; i++)
        ptrs[p->n_in + p->n_out + i] = p->cptr[i];
    char stack[STACK_SCRATCH + 64], *heap;
    if (scratch(p, &ptrs[p->n_in + p->n_out + p->n_const], stack, &heap) < 0)
        return NULL;
    p->fn(ptrs);
    PyMem_Free(heap);
    Py_RETURN_NONE;
}

static PyMethodDef call_def = {"call", (PyCFunction)(void (*)(void))k_call,
                               METH_FASTCALL | METH_KEYWORDS, "k(*inputs): the AOT fast path"};
static PyMethodDef strict_def = {"strict", (PyCFunction)(void (*)(void))k_strict, METH_FASTCALL,
                                 "strict(*inputs): converted inputs only"};
static PyMethodDef into_def = {"into", (PyCFunction)(void (*)(void))k_into, METH_FASTCALL,
                               "into(*inputs, *outputs): write into checked arrays"};

static int read_spec(PyObject *item, spec *s)
{
    /* (typenum, shape tuple) */
    PyObject *shape;
    if (!PyArg_ParseTuple(item, "iO!", &s->typenum, &PyTuple_Type, &shape))
        return -1;
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (s->typenum != NPY_DOUBLE && s->typenum != NPY_FLOAT &&
        !(s->typenum == NPY_BOOL && nd > 0)) {
        PyErr_SetString(PyExc_ValueError, "only float64, float32 and bool array arguments");
        return -1;
    }
    if (nd > MAX_DIMS) {
        PyErr_SetString(PyExc_ValueError, "too many dimensions");
        return -1;
    }
    s->ndim = (int)nd;
    for (Py_ssize_t k = 0; k < nd; k++) {
        s->dims[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, k));
        if (s->dims[k] == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static int read_specs(PyObject *seq, spec **out, Py_ssize_t *n)
{
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "specs must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(seq);
    *out = PyMem_Calloc(*n ? *n : 1, sizeof(spec));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++)
        if (read_spec(PyTuple_GET_ITEM(seq, i), &(*out)[i]) < 0)
            return -1;
    return 0;
}

/* make(address, in_specs, out_specs, consts, temp_specs, single, fallback)
 *   -> (call, strict, into) */
static PyObject *make(PyObject *mod, PyObject *args)
{
    unsigned long long addr;
    PyObject *ins, *outs, *consts, *temps, *fallback;
    spec *tspec = NULL;
    int single;
    if (!PyArg_ParseTuple(args, "KOOO!OpO", &addr, &ins, &outs, &PyTuple_Type, &consts, &temps,
                          &single, &fallback))
        return NULL;
    plan *p = PyMem_Calloc(1, sizeof(plan));
    if (p == NULL)
        return PyErr_NoMemory();
    PyObject *cap = PyCapsule_New(p, NULL, plan_free);
    if (cap == NULL) {
        PyMem_Free(p);
        return NULL;
    }
    p->fn = (kernel_fn)(uintptr_t)addr;
    p->single = single;
    Py_INCREF(fallback);
    p->fallback = fallback;
    Py_INCREF(consts);
    p->consts = consts;
    if (read_specs(ins, &p->in, &p->n_in) < 0 || read_specs(outs, &p->out, &p->n_out) < 0)
        goto fail;
    p->n_const = PyTuple_GET_SIZE(consts);
    if (read_specs(temps, &tspec, &p->n_temp) < 0)
        goto fail;
    p->temp_off = PyMem_Calloc(p->n_temp ? p->n_temp : 1, sizeof(Py_ssize_t));
    if (p->temp_off == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t t = 0; t < p->n_temp; t++) {
        Py_ssize_t size = tspec[t].typenum == NPY_DOUBLE ? 8 : tspec[t].typenum == NPY_FLOAT ? 4 : 1;
        for (int k = 0; k < tspec[t].ndim; k++)
            size *= tspec[t].dims[k];
        p->temp_off[t] = p->temp_bytes;
        p->temp_bytes += (size + 63) & ~(Py_ssize_t)63;
    }
    PyMem_Free(tspec);
    tspec = NULL;
    if (p->n_in + p->n_out + p->n_const + p->n_temp > MAX_ARGS || (single && p->n_out != 1) ||
        p->n_out < 1) {
        PyErr_SetString(PyExc_ValueError, "unsupported argument plan");
        goto fail;
    }
    p->cptr = PyMem_Calloc(p->n_const ? p->n_const : 1, sizeof(void *));
    if (p->cptr == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < p->n_const; i++) {
        PyObject *c = PyTuple_GET_ITEM(consts, i);
        if (!PyArray_Check(c) || !PyArray_ISCARRAY_RO((PyArrayObject *)c)) {
            PyErr_SetString(PyExc_TypeError, "constants must be C-contiguous arrays");
            goto fail;
        }
        p->cptr[i] = PyArray_DATA((PyArrayObject *)c);
    }
    PyObject *f1 = PyCFunction_NewEx(&call_def, cap, NULL);
    PyObject *f2 = PyCFunction_NewEx(&strict_def, cap, NULL);
    PyObject *f3 = PyCFunction_NewEx(&into_def, cap, NULL);
    Py_DECREF(cap);
    if (f1 == NULL || f2 == NULL || f3 == NULL) {
        Py_XDECREF(f1);
        Py_XDECREF(f2);
        Py_XDECREF(f3);
        return NULL;
    }
    return Py_BuildValue("(NNN)", f1, f2, f3);
fail:
    PyMem_Free(tspec);
    Py_DECREF(cap);
    return NULL;
}

static PyMethodDef methods[] = {
    {"make", make, METH_VARARGS, "make(address, in_specs, out_specs, consts, single, fallback)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_jitgrad_trampoline", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__jitgrad_trampoline(void)
{
    import_array();
    return PyModule_Create(&moddef);
}
