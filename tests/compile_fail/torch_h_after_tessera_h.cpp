// Must not compile: tessera/torch.h after another tessera header (nn::Linear would be the class
// in the first and a holder in the second). tests/CMakeLists.txt checks the error says so.
#include "tessera/tessera.h"
#include "tessera/torch.h"

int main() { return 0; }
