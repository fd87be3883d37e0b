// Out-of-line anchor so the exception classes have one home translation unit.
#include "ortdiffusion/errors.hpp"
