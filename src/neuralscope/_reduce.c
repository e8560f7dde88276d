/* One pass over a float32 vector for capture(keep="stats"): its sum, sum of squares,
 * minimum and maximum together (torch needs three passes: sum, dot, aminmax).
 *
 * Private to neuralscope.capture, which calls it only with the address and length of a
 * contiguous float32 CPU tensor it holds, and falls back to torch's three reductions where
 * this module was not built. The values are accumulated in 64 float32 lanes (four AVX-512
 * or eight AVX2 registers, enough to hide the adds' latency) over runs of 4,096 values,
 * then in double: the rounding error of each run is that of 64 values, not of the whole
 * vector. Non-finite values make the sums non-finite; the caller then takes its own path.
 * x86-64 builds carry an AVX-512, an AVX2 and a baseline version, chosen at load time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define LANES 64
#define RUN 4096

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NEURALSCOPE_ONE_TARGET)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

CLONES static void stats_run(const float *a, Py_ssize_t n, double *sum, double *sq, float *lo, float *hi) {
    float s[LANES] = {0}, q[LANES] = {0}, l[LANES], h[LANES];
    for (int j = 0; j < LANES; j++) { l[j] = *lo; h[j] = *hi; }
    Py_ssize_t whole = n - n % LANES;
    for (Py_ssize_t i = 0; i < whole; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            float v = a[i + j];
            s[j] += v;
            q[j] += v * v;
            l[j] = v < l[j] ? v : l[j];
            h[j] = v > h[j] ? v : h[j];
        }
    }
    double total = 0.0, squares = 0.0;
    float low = *lo, high = *hi;
    for (Py_ssize_t i = whole; i < n; i++) {
        float v = a[i];
        total += v;
        squares += (double)v * v;
        low = v < low ? v : low;
        high = v > high ? v : high;
    }
    for (int j = 0; j < LANES; j++) {
        total += s[j];
        squares += q[j];
        low = l[j] < low ? l[j] : low;
        high = h[j] > high ? h[j] : high;
    }
    *sum += total; *sq += squares; *lo = low; *hi = high;
}

static PyObject *float32_stats(PyObject *self, PyObject *args) {
    unsigned long long address;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Kn", &address, &n))
        return NULL;
    if (n <= 0 || address == 0) {
        PyErr_SetString(PyExc_ValueError, "float32_stats needs the address of at least one float32 value");
        return NULL;
    }
    const float *a = (const float *)(uintptr_t)address;
    double sum = 0.0, sq = 0.0;
    float lo = INFINITY, hi = -INFINITY;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t start = 0; start < n; start += RUN)
        stats_run(a + start, n - start < RUN ? n - start : RUN, &sum, &sq, &lo, &hi);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("dddd", sum, sq, (double)lo, (double)hi);
}

static PyMethodDef methods[] = {
    {"float32_stats", float32_stats, METH_VARARGS,
     "float32_stats(address, n) -> (sum, sum of squares, min, max) of n contiguous float32 values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_reduce", NULL, -1, methods};

PyMODINIT_FUNC PyInit__reduce(void) { return PyModule_Create(&module); }
