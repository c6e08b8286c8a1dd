// CCUDA: the subset of the CUDA driver API, NVRTC, cuBLAS/cuBLASLt and NCCL that disttrain calls,
// declared here so the package builds with no CUDA installed. Nothing links against these libraries:
// CUDARuntime opens them with dlopen at run time and looks each function up with dlsym, so this
// header holds only types, constants and one function-pointer type (PFN_<name>) per function.
//
// Values and signatures are copied from the official headers of:
//   cuda.h          CUDA 13.2 (CUDA_VERSION 13020)      nvrtc.h    NVRTC 13.2.86
//   cublas_api.h    cuBLAS 13.4.1                        cublasLt.h cuBLASLt 13.4.1
//   library_types.h CUDA 13.2                            nccl.h     NCCL 2.30.7
// (the nvidia-* wheels on PyPI). Every value used here is the same in CUDA 12.x and NCCL 2.18+.
//
// The driver exports versioned symbols behind cuda.h's macros (cuMemAlloc -> cuMemAlloc_v2, ...).
// The loader asks dlsym for the versioned name written beside each PFN below; those names exist in
// every driver since CUDA 4 (cuCtxCreate_v2 is kept by CUDA 13 drivers next to cuCtxCreate_v4).
#ifndef DISTTRAIN_CCUDA_H
#define DISTTRAIN_CCUDA_H

#include <stddef.h>

// MARK: - CUDA driver API (libcuda.so.1)

typedef int CUdevice;                       // CUdevice_v1
typedef unsigned long long CUdeviceptr;     // CUdeviceptr_v2
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;

/// Result codes; only the ones our messages mention are listed (cuGetErrorString names every code).
typedef enum cudaError_enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
    CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
} CUresult;

typedef enum CUdevice_attribute_enum {
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
} CUdevice_attribute;

enum { CU_STREAM_DEFAULT = 0x0, CU_STREAM_NON_BLOCKING = 0x1 };
enum { CU_EVENT_DEFAULT = 0x0, CU_EVENT_BLOCKING_SYNC = 0x1, CU_EVENT_DISABLE_TIMING = 0x2 };

typedef CUresult (*PFN_cuGetErrorString)(CUresult error, const char **pStr);
typedef CUresult (*PFN_cuGetErrorName)(CUresult error, const char **pStr);
typedef CUresult (*PFN_cuInit)(unsigned int Flags);
typedef CUresult (*PFN_cuDriverGetVersion)(int *driverVersion);
typedef CUresult (*PFN_cuDeviceGet)(CUdevice *device, int ordinal);
typedef CUresult (*PFN_cuDeviceGetCount)(int *count);
typedef CUresult (*PFN_cuDeviceGetName)(char *name, int len, CUdevice dev);
typedef CUresult (*PFN_cuDeviceGetAttribute)(int *pi, CUdevice_attribute attrib, CUdevice dev);
typedef CUresult (*PFN_cuDeviceTotalMem)(size_t *bytes, CUdevice dev);                          // cuDeviceTotalMem_v2
typedef CUresult (*PFN_cuDevicePrimaryCtxRetain)(CUcontext *pctx, CUdevice dev);
typedef CUresult (*PFN_cuDevicePrimaryCtxRelease)(CUdevice dev);                               // cuDevicePrimaryCtxRelease_v2
typedef CUresult (*PFN_cuCtxCreate)(CUcontext *pctx, unsigned int flags, CUdevice dev);         // cuCtxCreate_v2
typedef CUresult (*PFN_cuCtxDestroy)(CUcontext ctx);                                            // cuCtxDestroy_v2
typedef CUresult (*PFN_cuCtxSetCurrent)(CUcontext ctx);
typedef CUresult (*PFN_cuMemAlloc)(CUdeviceptr *dptr, size_t bytesize);                         // cuMemAlloc_v2
typedef CUresult (*PFN_cuMemFree)(CUdeviceptr dptr);                                            // cuMemFree_v2
typedef CUresult (*PFN_cuMemAllocHost)(void **pp, size_t bytesize);                             // cuMemAllocHost_v2
typedef CUresult (*PFN_cuMemFreeHost)(void *p);
typedef CUresult (*PFN_cuMemcpyHtoD)(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);   // _v2
typedef CUresult (*PFN_cuMemcpyDtoH)(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);         // _v2
typedef CUresult (*PFN_cuMemcpyHtoDAsync)(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                          CUstream hStream);                                           // _v2
typedef CUresult (*PFN_cuMemcpyDtoHAsync)(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                          CUstream hStream);                                           // _v2
typedef CUresult (*PFN_cuStreamCreate)(CUstream *phStream, unsigned int Flags);
typedef CUresult (*PFN_cuStreamSynchronize)(CUstream hStream);
typedef CUresult (*PFN_cuStreamQuery)(CUstream hStream);
typedef CUresult (*PFN_cuStreamWaitEvent)(CUstream hStream, CUevent hEvent, unsigned int Flags);
typedef CUresult (*PFN_cuStreamDestroy)(CUstream hStream);                                      // cuStreamDestroy_v2
typedef CUresult (*PFN_cuEventCreate)(CUevent *phEvent, unsigned int Flags);
typedef CUresult (*PFN_cuEventRecord)(CUevent hEvent, CUstream hStream);
typedef CUresult (*PFN_cuEventSynchronize)(CUevent hEvent);
typedef CUresult (*PFN_cuEventElapsedTime)(float *pMilliseconds, CUevent hStart, CUevent hEnd);
typedef CUresult (*PFN_cuEventDestroy)(CUevent hEvent);                                         // cuEventDestroy_v2
typedef CUresult (*PFN_cuModuleLoadData)(CUmodule *module, const void *image);
typedef CUresult (*PFN_cuModuleGetFunction)(CUfunction *hfunc, CUmodule hmod, const char *name);
typedef CUresult (*PFN_cuModuleUnload)(CUmodule hmod);
typedef CUresult (*PFN_cuLaunchKernel)(CUfunction f,
                                       unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                       unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                       unsigned int sharedMemBytes, CUstream hStream,
                                       void **kernelParams, void **extra);

// MARK: - NVRTC (libnvrtc.so.13 / .12)

typedef struct _nvrtcProgram *nvrtcProgram;

typedef enum {
    NVRTC_SUCCESS = 0,
    NVRTC_ERROR_OUT_OF_MEMORY = 1,
    NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4,
    NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
} nvrtcResult;

typedef const char *(*PFN_nvrtcGetErrorString)(nvrtcResult result);
typedef nvrtcResult (*PFN_nvrtcVersion)(int *major, int *minor);
typedef nvrtcResult (*PFN_nvrtcCreateProgram)(nvrtcProgram *prog, const char *src, const char *name, int numHeaders,
                                              const char *const *headers, const char *const *includeNames);
typedef nvrtcResult (*PFN_nvrtcDestroyProgram)(nvrtcProgram *prog);
typedef nvrtcResult (*PFN_nvrtcCompileProgram)(nvrtcProgram prog, int numOptions, const char *const *options);
typedef nvrtcResult (*PFN_nvrtcGetProgramLogSize)(nvrtcProgram prog, size_t *logSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetProgramLog)(nvrtcProgram prog, char *log);
typedef nvrtcResult (*PFN_nvrtcGetPTXSize)(nvrtcProgram prog, size_t *ptxSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetPTX)(nvrtcProgram prog, char *ptx);
typedef nvrtcResult (*PFN_nvrtcGetCUBINSize)(nvrtcProgram prog, size_t *cubinSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetCUBIN)(nvrtcProgram prog, char *cubin);

// MARK: - cuBLAS (libcublas.so.13 / .12) and cuBLASLt (libcublasLt.so.13 / .12)

typedef struct cublasContext *cublasHandle_t;
typedef struct cublasLtContext *cublasLtHandle_t;

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
/// library_types.h's cudaDataType (the element types we pass to cublasGemmEx).
typedef enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;

typedef const char *(*PFN_cublasGetStatusString)(cublasStatus_t status);
typedef cublasStatus_t (*PFN_cublasCreate)(cublasHandle_t *handle);                            // cublasCreate_v2
typedef cublasStatus_t (*PFN_cublasDestroy)(cublasHandle_t handle);                            // cublasDestroy_v2
typedef cublasStatus_t (*PFN_cublasSetStream)(cublasHandle_t handle, CUstream streamId);       // cublasSetStream_v2
typedef cublasStatus_t (*PFN_cublasSetMathMode)(cublasHandle_t handle, cublasMath_t mode);
typedef cublasStatus_t (*PFN_cublasSgemmStridedBatched)(cublasHandle_t handle,
                                                        cublasOperation_t transa, cublasOperation_t transb,
                                                        int m, int n, int k, const float *alpha,
                                                        const float *A, int lda, long long int strideA,
                                                        const float *B, int ldb, long long int strideB,
                                                        const float *beta, float *C, int ldc, long long int strideC,
                                                        int batchCount);
typedef cublasStatus_t (*PFN_cublasGemmEx)(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const void *alpha,
                                           const void *A, cudaDataType Atype, int lda,
                                           const void *B, cudaDataType Btype, int ldb,
                                           const void *beta, void *C, cudaDataType Ctype, int ldc,
                                           cublasComputeType_t computeType, cublasGemmAlgo_t algo);
typedef cublasStatus_t (*PFN_cublasLtCreate)(cublasLtHandle_t *lightHandle);
typedef cublasStatus_t (*PFN_cublasLtDestroy)(cublasLtHandle_t lightHandle);
typedef size_t (*PFN_cublasLtGetVersion)(void);

// MARK: - NCCL (libnccl.so.2)

typedef struct ncclComm *ncclComm_t;
#define NCCL_UNIQUE_ID_BYTES 128
typedef struct { char internal[NCCL_UNIQUE_ID_BYTES]; } ncclUniqueId;

typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7,
    ncclTimeout = 8,
} ncclResult_t;

typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;
typedef enum { ncclInt32 = 2, ncclFloat32 = 7, ncclFloat64 = 8, ncclBfloat16 = 9 } ncclDataType_t;

typedef const char *(*PFN_ncclGetErrorString)(ncclResult_t result);
typedef ncclResult_t (*PFN_ncclGetVersion)(int *version);
typedef ncclResult_t (*PFN_ncclGetUniqueId)(ncclUniqueId *uniqueId);
typedef ncclResult_t (*PFN_ncclCommInitRank)(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank);
typedef ncclResult_t (*PFN_ncclCommDestroy)(ncclComm_t comm);
typedef ncclResult_t (*PFN_ncclCommAbort)(ncclComm_t comm);
typedef ncclResult_t (*PFN_ncclCommGetAsyncError)(ncclComm_t comm, ncclResult_t *asyncError);
typedef ncclResult_t (*PFN_ncclAllReduce)(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                          ncclRedOp_t op, ncclComm_t comm, CUstream stream);
typedef ncclResult_t (*PFN_ncclAllGather)(const void *sendbuff, void *recvbuff, size_t sendcount,
                                          ncclDataType_t datatype, ncclComm_t comm, CUstream stream);
typedef ncclResult_t (*PFN_ncclReduceScatter)(const void *sendbuff, void *recvbuff, size_t recvcount,
                                              ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                              CUstream stream);

#endif
