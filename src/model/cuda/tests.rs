//! Tests of where the CUDA libraries are looked for and of the messages.

use super::*;

/// Empty files named like the libraries, in `dir`.
fn stubs(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for name in names {
        std::fs::write(dir.join(name), b"").unwrap();
    }
}

/// A virtualenv in `root/venv` with pip's CUDA 13 layout: `nvidia/cu13/lib`, `nvidia/cudnn/lib`.
fn fake_venv(root: &Path) -> PathBuf {
    let venv = root.join("venv");
    let nvidia = venv.join("lib/python3.11/site-packages/nvidia");
    stubs(
        &nvidia.join("cu13/lib"),
        &["libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"],
    );
    stubs(&nvidia.join("cudnn/lib"), &["libcudnn.so.9"]);
    std::fs::create_dir_all(nvidia.join("cu13/include")).unwrap();
    venv
}

fn env_in(root: &Path) -> SearchEnv {
    SearchEnv {
        root: root.to_path_buf(),
        ..SearchEnv::default()
    }
}

#[test]
fn places_come_in_the_documented_order() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let venv = fake_venv(root);
    stubs(
        &root.join("usr/local/cuda-13.0/lib64"),
        &["libcudart.so.13"],
    );
    stubs(&root.join("usr/local/cuda/lib64"), &[]);
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    let env = SearchEnv {
        cuda_libs: Some(OsString::from("/a:/b")),
        virtualenvs: vec![venv.clone()],
        toolkits: vec![root.join("toolkit")],
        ..env_in(root)
    };
    let places = places(&env);
    let labels: Vec<&str> = places.iter().map(|p| p.label.as_str()).collect();
    let venv_label = format!("{}/lib/python*/site-packages/nvidia/*/lib", venv.display());
    let toolkit = root.join("toolkit");
    let toolkit_label = format!("{0}/lib64, {0}/lib", toolkit.display());
    assert_eq!(
        labels,
        [
            "STYLIZE_CUDA_LIBS",
            &venv_label,
            &toolkit_label,
            "/usr/local/cuda*/lib64"
        ]
    );
    let nvidia = venv.join("lib/python3.11/site-packages/nvidia");
    assert_eq!(places[0].dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(
        places[1].dirs,
        [nvidia.join("cu13/lib"), nvidia.join("cudnn/lib")]
    );
    assert_eq!(
        places[2].dirs,
        [root.join("toolkit/lib64"), root.join("toolkit/lib")]
    );
    assert_eq!(
        places[3].dirs,
        [
            root.join("usr/local/cuda/lib64"),
            root.join("usr/local/cuda-13.0/lib64")
        ]
    );
}

#[test]
fn each_library_comes_from_the_virtualenv_folder_that_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = fake_venv(tmp.path());
    let env = SearchEnv {
        virtualenvs: vec![venv.clone()],
        ..env_in(tmp.path())
    };
    let places = places(&env);
    let nvidia = venv.join("lib/python3.11/site-packages/nvidia");
    assert_eq!(
        locate("libcublasLt.so.13", &places),
        Some(nvidia.join("cu13/lib/libcublasLt.so.13"))
    );
    assert_eq!(
        locate("libcudnn.so.9", &places),
        Some(nvidia.join("cudnn/lib/libcudnn.so.9"))
    );
    assert_eq!(locate("libcurand.so.10", &places), None);
}

#[test]
fn stylize_cuda_libs_comes_before_the_virtualenv_and_usr_local() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let venv = fake_venv(root);
    stubs(&root.join("usr/local/cuda/lib64"), &["libcudart.so.13"]);
    stubs(&root.join("mine"), &["libcudart.so.13"]);
    stubs(&root.join("also"), &["libcublas.so.13"]);
    let mut env = SearchEnv {
        virtualenvs: vec![venv.clone()],
        ..env_in(root)
    };
    let nvidia = venv.join("lib/python3.11/site-packages/nvidia");
    assert_eq!(
        locate("libcudart.so.13", &places(&env)),
        Some(nvidia.join("cu13/lib/libcudart.so.13"))
    );
    let list = std::env::join_paths([root.join("mine"), root.join("also")]).unwrap();
    env.cuda_libs = Some(list);
    let places = places(&env);
    assert_eq!(
        locate("libcudart.so.13", &places),
        Some(root.join("mine/libcudart.so.13"))
    );
    assert_eq!(
        locate("libcublas.so.13", &places),
        Some(root.join("also/libcublas.so.13"))
    );
    // Not in STYLIZE_CUDA_LIBS: the search goes on.
    assert_eq!(
        locate("libcudnn.so.9", &places),
        Some(nvidia.join("cudnn/lib/libcudnn.so.9"))
    );
}

#[test]
fn usr_local_cuda_is_searched_after_the_toolkits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    stubs(
        &root.join("usr/local/cuda-13.1/lib64"),
        &["libcurand.so.10"],
    );
    let mut env = env_in(root);
    assert_eq!(
        locate("libcurand.so.10", &places(&env)),
        Some(root.join("usr/local/cuda-13.1/lib64/libcurand.so.10"))
    );
    stubs(&root.join("toolkit/lib"), &["libcurand.so.10"]);
    env.toolkits = vec![root.join("toolkit")];
    assert_eq!(
        locate("libcurand.so.10", &places(&env)),
        Some(root.join("toolkit/lib/libcurand.so.10"))
    );
}

#[test]
fn a_virtualenv_named_twice_is_searched_once() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = fake_venv(tmp.path());
    let env = SearchEnv {
        virtualenvs: vec![venv.clone(), venv],
        ..env_in(tmp.path())
    };
    assert_eq!(places(&env).len(), 2);
}

#[test]
fn a_library_found_nowhere_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = fake_venv(tmp.path());
    let env = SearchEnv {
        cuda_libs: Some(OsString::from(tmp.path().join("empty"))),
        virtualenvs: vec![venv.clone()],
        ..env_in(tmp.path())
    };
    let places = places(&env);
    let name = "libstylize-test-absent.so.13";
    let absent = CudaLibrary {
        name,
        required: true,
    };
    let error = load(&absent, &places).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{name} not found (looked in STYLIZE_CUDA_LIBS, {}/lib/python*/site-packages/nvidia/*/lib, \
             /usr/local/cuda*/lib64 and the loader's path)",
            venv.display()
        )
    );
}

#[test]
fn a_found_file_that_is_no_library_is_a_load_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = fake_venv(tmp.path());
    let env = SearchEnv {
        virtualenvs: vec![venv],
        ..env_in(tmp.path())
    };
    let error = load(&LIBRARIES[0], &places(&env)).unwrap_err();
    let CudaError::LoadFailed { library, message } = &error else {
        panic!("not a load error: {error}");
    };
    assert_eq!(*library, "libcudart.so.13");
    assert!(message.contains("cu13/lib/libcudart.so.13"), "{message}");
    assert!(error
        .to_string()
        .starts_with("cannot load libcudart.so.13: "));
}

#[test]
fn the_driver_must_support_cuda_13() {
    assert_eq!(check_driver_version(13000), Ok(()));
    assert_eq!(check_driver_version(13020), Ok(()));
    let error = check_driver_version(12080).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the NVIDIA driver supports CUDA 12.8 but ONNX Runtime's GPU build needs CUDA 13: update the driver (580 or newer)"
    );
    assert_eq!(cuda_version(12040), "12.4");
    assert_eq!(cuda_version(13000), "13.0");
}

#[test]
fn the_other_messages_name_what_is_missing() {
    assert_eq!(
        CudaError::NoDriver(
            "libcuda.so.1: cannot open shared object file: No such file or directory".into()
        )
        .to_string(),
        "no NVIDIA driver found (libcuda.so.1: cannot open shared object file: No such file or directory)"
    );
    assert_eq!(
        CudaError::NoSuchGpu {
            device: 2,
            count: 1
        }
        .to_string(),
        "there is no GPU 2: the NVIDIA driver sees 1 (cuda:0 to cuda:0)"
    );
    assert_eq!(
        CudaError::NoProvider.to_string(),
        "this ONNX Runtime has no CUDA provider (the CPU build)"
    );
}

#[test]
fn the_libraries_come_after_those_they_link() {
    let position = |name: &str| LIBRARIES.iter().position(|l| l.name == name).unwrap();
    assert!(position("libcudart.so.13") < position("libcurand.so.10"));
    assert!(position("libcublasLt.so.13") < position("libcublas.so.13"));
    let required: Vec<&str> = LIBRARIES
        .iter()
        .filter(|l| l.required)
        .map(|l| l.name)
        .collect();
    assert_eq!(
        required,
        [
            "libcudart.so.13",
            "libcublasLt.so.13",
            "libcublas.so.13",
            "libcurand.so.10",
            "libcudnn.so.9"
        ]
    );
}
