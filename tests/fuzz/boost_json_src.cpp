// Boost.JSON compiled into the fuzz targets that use it (run.sh only), so
// its parser is instrumented too and coverage guides the fuzzer through it.
#include <boost/json/src.hpp>
