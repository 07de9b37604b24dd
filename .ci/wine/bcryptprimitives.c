/* A stand-in for Windows' bcryptprimitives.dll, for running Go test binaries under Debian's
 * Wine 8 only (see ../wine-tests). Go 1.24+ takes its random bytes from
 * bcryptprimitives.dll!ProcessPrng, which Wine 8 does not have, so every Go program dies in
 * runtime.osinit. This exports ProcessPrng and fills the buffer from RtlGenRandom
 * (advapi32!SystemFunction036), which Wine has. Never shipped, never used on Windows. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
    while (size > 0) {
        ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        size -= n;
    }
    return TRUE;
}
