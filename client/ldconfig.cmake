# client/ldconfig.cmake — run by `cmake --install` after libipp is in place.
#
# The dynamic loader finds a new library in its own directories (/usr/lib,
# /usr/local/lib, those of /etc/ld.so.conf) only once ldconfig has
# refreshed its cache, so a program linked with `pkg-config --libs ipp`
# would not start. When the library went into such a directory and the
# install runs as root, run ldconfig; otherwise say what a program needs.
# Never runs under DESTDIR (a package's own scripts run ldconfig there).
# Expects IPP_INSTALL_LIBDIR (CMAKE_INSTALL_LIBDIR). $IPP_LDCONFIG names
# another ldconfig (the install test uses one that records its calls).
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return()
endif()
if(IS_ABSOLUTE "${IPP_INSTALL_LIBDIR}")
  set(ipp_libdir "${IPP_INSTALL_LIBDIR}")
else()
  set(ipp_libdir "${CMAKE_INSTALL_PREFIX}/${IPP_INSTALL_LIBDIR}")
endif()
file(REAL_PATH "${ipp_libdir}" ipp_libdir_real)
set(ipp_ldconfig "$ENV{IPP_LDCONFIG}")
if(ipp_ldconfig STREQUAL "")
  find_program(ipp_ldconfig ldconfig PATHS /sbin /usr/sbin NO_CACHE)
endif()
set(ipp_searched FALSE)
if(ipp_ldconfig)
  # -v -N -X: list the directories it would scan, change nothing.
  execute_process(COMMAND "${ipp_ldconfig}" -v -N -X OUTPUT_VARIABLE ipp_out ERROR_QUIET
                  RESULT_VARIABLE ipp_rc)
  string(REPLACE "\n" ";" ipp_lines "${ipp_out}")
  foreach(line IN LISTS ipp_lines)
    if(line MATCHES "^(/[^:]*):")
      file(REAL_PATH "${CMAKE_MATCH_1}" ipp_dir)
      if(ipp_dir STREQUAL ipp_libdir_real)
        set(ipp_searched TRUE)
      endif()
    endif()
  endforeach()
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE ipp_uid OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(ipp_searched AND ipp_uid STREQUAL "0")
  execute_process(COMMAND "${ipp_ldconfig}" RESULT_VARIABLE ipp_rc)
  if(ipp_rc EQUAL 0)
    message(STATUS "ipp: ran ldconfig: programs find libipp.so.0 in ${ipp_libdir}")
  else()
    message(WARNING "ipp: ldconfig failed (${ipp_rc}); run it before starting programs "
                    "linked with libipp")
  endif()
elseif(ipp_searched)
  message(STATUS "ipp: run ldconfig as root, or programs linked with libipp will not "
                 "find libipp.so.0 in ${ipp_libdir}")
else()
  message(STATUS "ipp: ${ipp_libdir} is not searched by the dynamic loader: start programs "
                 "linked with libipp with LD_LIBRARY_PATH=${ipp_libdir}, or link them with "
                 "-Wl,-rpath,${ipp_libdir}")
endif()
