/* The hand-written accessors: rte_errno is a thread-local behind a macro, which
 * neither bindgen nor Rust's extern statics can reach. Every `static inline`
 * function used is wrapped by bindgen (wrap_static_fns). */
#include "wrapper.h"

int flowlift_drv_rte_errno(void) { return rte_errno; }
void flowlift_drv_set_rte_errno(int value) { rte_errno = value; }
