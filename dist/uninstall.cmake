# `cmake --build BUILD --target uninstall`: removes every file the last `cmake --install` wrote
# (BUILD/install_manifest.txt, under the same DESTDIR). Folders are left: they may be shared.
set(manifest "${AP_BUILD_DIR}/install_manifest.txt")
if(NOT EXISTS "${manifest}")
  message(FATAL_ERROR "no ${manifest}: nothing was installed from this build folder")
endif()
file(STRINGS "${manifest}" files)
foreach(file IN LISTS files)
  set(path "$ENV{DESTDIR}${file}")
  if(IS_SYMLINK "${path}" OR EXISTS "${path}")
    message(STATUS "Removing ${path}")
    file(REMOVE "${path}")
  endif()
endforeach()
