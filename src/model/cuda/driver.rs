//! The NVIDIA driver's API: the CUDA version it supports and the GPUs it sees.

use std::ffi::{c_char, c_int, c_uint, CStr};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

use super::{loader_message, CudaError};

/// The driver's CUDA version that ONNX Runtime's GPU build needs, as `cuDriverGetVersion` reports it
/// (1000 × major + 10 × minor): CUDA 13.0.
pub const NEEDED_DRIVER_CUDA: i32 = 13000;

/// The NVIDIA driver's library.
const DRIVER: &str = "libcuda.so.1";

/// `cuDriverGetVersion`'s number as CUDA's version: 12040 → "12.4".
pub fn cuda_version(version: i32) -> String {
    format!("{}.{}", version / 1000, version % 1000 / 10)
}

/// Whether a driver of this CUDA version runs ONNX Runtime's GPU build.
pub fn check_driver_version(version: i32) -> Result<(), CudaError> {
    if version < NEEDED_DRIVER_CUDA {
        return Err(CudaError::DriverTooOld(version));
    }
    Ok(())
}

/// The NVIDIA driver, loaded.
pub struct Driver {
    library: Library,
    /// The CUDA version it supports (`cuDriverGetVersion`).
    pub version: i32,
}

impl Driver {
    /// Loads `libcuda.so.1` and asks its CUDA version.
    pub fn load() -> Result<Driver, CudaError> {
        // SAFETY: the NVIDIA driver's library; its initialisers only set up its own state.
        let library = unsafe { Library::open(Some(DRIVER), RTLD_NOW | RTLD_GLOBAL) }
            .map_err(|e| CudaError::NoDriver(loader_message(&e)))?;
        let mut version: c_int = 0;
        // SAFETY: cuDriverGetVersion(int*) writes one int; it needs no cuInit.
        let status = unsafe {
            let get = library
                .get::<unsafe extern "C" fn(*mut c_int) -> c_int>(b"cuDriverGetVersion\0")
                .map_err(|e| CudaError::NoDriver(loader_message(&e)))?;
            get(&mut version)
        };
        let driver = Driver { library, version };
        if status != 0 {
            return Err(CudaError::NoDriver(format!(
                "{DRIVER}: cuDriverGetVersion: {}",
                driver.error_name(status)
            )));
        }
        Ok(driver)
    }

    /// The names of the GPUs the driver sees, in `cuda:N` order.
    pub fn gpus(&self) -> Result<Vec<String>, CudaError> {
        type Init = unsafe extern "C" fn(c_uint) -> c_int;
        type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
        type Get = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
        type Name = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
        let missing = |e: libloading::Error| CudaError::NoGpu(loader_message(&e));
        let failed = |call: &str, status: c_int| {
            CudaError::NoGpu(format!("{call}: {}", self.error_name(status)))
        };
        // SAFETY: the driver API's documented signatures; every out-pointer is valid for its call
        // and the name buffer is as long as the length passed.
        unsafe {
            let init = self.library.get::<Init>(b"cuInit\0").map_err(missing)?;
            let count_fn = self
                .library
                .get::<Count>(b"cuDeviceGetCount\0")
                .map_err(missing)?;
            let get = self.library.get::<Get>(b"cuDeviceGet\0").map_err(missing)?;
            let name_fn = self
                .library
                .get::<Name>(b"cuDeviceGetName\0")
                .map_err(missing)?;
            let status = init(0);
            if status != 0 {
                return Err(failed("cuInit", status));
            }
            let mut count: c_int = 0;
            let status = count_fn(&mut count);
            if status != 0 {
                return Err(failed("cuDeviceGetCount", status));
            }
            let mut names = Vec::new();
            for ordinal in 0..count {
                let mut device: c_int = 0;
                let mut buffer = [0 as c_char; 256];
                let mut name = format!("GPU {ordinal}");
                if get(&mut device, ordinal) == 0
                    && name_fn(buffer.as_mut_ptr(), buffer.len() as c_int, device) == 0
                {
                    name = CStr::from_ptr(buffer.as_ptr())
                        .to_string_lossy()
                        .into_owned();
                }
                names.push(name);
            }
            Ok(names)
        }
    }

    /// The driver's name for a status code (`CUDA_ERROR_NO_DEVICE`), else the number.
    fn error_name(&self, status: c_int) -> String {
        type ErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;
        let mut name: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName(CUresult, const char**) sets a static string or returns an error.
        let found = unsafe {
            self.library
                .get::<ErrorName>(b"cuGetErrorName\0")
                .is_ok_and(|f| f(status, &mut name) == 0 && !name.is_null())
        };
        if found {
            // SAFETY: checked non-null above; the driver's static, NUL-terminated string.
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("error {status}")
        }
    }
}
