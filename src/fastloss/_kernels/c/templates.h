/* templates.h: the kernels' templates in the order they build on each other,
 * instantiated by kernels.h once per element type (see type.h). */
#include "points.h"
#include "rows.h"
#include "softmax.h"
#include "softmax_backward.h"
#include "cross_entropy.h"
#include "elementwise.h"
#include "unary.h"
#include "floors.h"
