#!/usr/bin/env bash
# Every package the CMake files look for must come from a Debian package that
# .ci/bootstrap.sh installs. Machines where packages were installed by hand hide a
# missing one (libboost-program-options-dev was missing once), so this check reads the
# CMake files and the bootstrap's PACKAGES list and needs neither network nor the
# packages themselves. Usage: .ci/check_packages.sh [--bootstrap FILE] [--no-dpkg]
#   --bootstrap FILE  read PACKAGES=(...) from FILE instead of .ci/bootstrap.sh
#   --no-dpkg         skip the cross-check of the table against installed packages
set -euo pipefail
cd "$(dirname "$0")/.."

bootstrap=.ci/bootstrap.sh
use_dpkg=1
while (($#)); do
  case $1 in
    --bootstrap) bootstrap=$2; shift 2 ;;
    --no-dpkg) use_dpkg=0; shift ;;
    *) echo "usage: $0 [--bootstrap FILE] [--no-dpkg]" >&2; exit 2 ;;
  esac
done

# What CMake looks for -> the Debian package (bookworm) that provides it -> a file that
# package (or a package it depends on) ships, so the table itself can be checked with
# dpkg -L where the package happens to be installed. Keys: find_package names, with
# ":component" for components; "pkg-config:MODULE" for pkg_check_modules and
# pkg_search_module; "program:NAME" for find_program.
TABLE='
Boost                       libboost-dev                  */cmake/Boost-*/BoostConfig.cmake
Boost:program_options       libboost-program-options-dev  */boost_program_options-config.cmake
Boost:system                libboost-system-dev           */boost_system-config.cmake
Python3                     cmake                         */Modules/FindPython3.cmake
Python3:Interpreter         python3                       /usr/bin/python3
Python3:Development         python3-dev                   /usr/include/python3*/Python.h
Python3:Development.Embed   python3-dev                   /usr/include/python3*/Python.h
Python3:Development.Module  python3-dev                   /usr/include/python3*/Python.h
Threads                     build-essential               /usr/include/pthread.h
PkgConfig                   pkg-config                    /usr/bin/pkg-config
msgpack                     libmsgpack-cxx-dev            */cmake/msgpackc-cxx/msgpack-config.cmake
GTest                       libgtest-dev                  */cmake/GTest/GTestConfig.cmake
benchmark                   libbenchmark-dev              */cmake/benchmark/benchmarkConfig.cmake
TBB                         libtbb-dev                    */cmake/TBB/TBBConfig.cmake
pkg-config:libzstd          libzstd-dev                   */pkgconfig/libzstd.pc
pkg-config:liblz4           liblz4-dev                    */pkgconfig/liblz4.pc
program:ccache              ccache                        /usr/bin/ccache
'
declare -A deb_of file_of
while read -r key deb file; do
  [ -n "$key" ] || continue
  deb_of[$key]=$deb file_of[$key]=$file
done <<< "$TABLE"

# The bootstrap's PACKAGES=( ... ) array, read from the script itself (comments dropped).
[ -r "$bootstrap" ] || { echo "check_packages: cannot read $bootstrap" >&2; exit 2; }
read -ra packages <<< "$(sed -n '/^PACKAGES=(/,/^)/{s/#.*//;s/^PACKAGES=(//;s/)//;p}' "$bootstrap" | tr '\n' ' ')"
((${#packages[@]})) || { echo "check_packages: no PACKAGES=(...) array in $bootstrap" >&2; exit 2; }
declare -A in_bootstrap
for p in "${packages[@]}"; do in_bootstrap[$p]=1; done

# The CMake files of the tree, tracked or new (but not ignored, so not build*/ or .venv/).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
                         'CMakeLists.txt' '*/CMakeLists.txt' '*.cmake' | sort -u)
else
  mapfile -t files < <(find . \( -name 'build*' -o -name .venv -o -name .git \) -prune -o \
                         \( -name CMakeLists.txt -o -name '*.cmake' \) -type f -print | sed 's|^\./||')
fi
files=("${files[@]/#/./}")  # keep the names readable but never option-like
((${#files[@]})) || { echo "check_packages: no CMake files found" >&2; exit 2; }

# One line per call: "file:line<TAB>command<TAB>arguments", calls spanning lines joined.
calls=$(awk '
  function scan(s,   low, p) {
    while (s != "") {
      if (!incall) {
        low = tolower(s)
        if (!match(low, /(^|[^a-z0-9_])(find_package|pkg_check_modules|pkg_search_module|find_program)[ \t]*\(/))
          return
        cmd = substr(low, RSTART, RLENGTH)
        sub(/^[^a-z]*/, "", cmd); sub(/[ \t]*\($/, "", cmd)
        where = FILENAME; sub(/^\.\//, "", where)
        where = where ":" FNR; args = ""; incall = 1
        s = substr(s, RSTART + RLENGTH)
      }
      p = index(s, ")")
      if (p == 0) { args = args " " s; return }
      args = args " " substr(s, 1, p - 1)
      gsub(/[ \t]+/, " ", args); sub(/^ /, "", args); sub(/ $/, "", args)
      print where "\t" cmd "\t" args
      incall = 0
      s = substr(s, p + 1)
    }
  }
  FNR == 1 { incall = 0 }
  { line = $0; sub(/#.*/, "", line); gsub(/"/, "", line); scan(line) }
' "${files[@]}")

fail=0
declare -A used  # key -> where it was first seen
problem() { echo "check_packages: $1" >&2; fail=1; }
need() {  # key, where, what the CMake call looks for (for the message)
  local key=$1 where=$2 what=$3
  if [ -z "${deb_of[$key]:-}" ]; then
    problem "$where: $what: not in the table of .ci/check_packages.sh; add the Debian package that provides it there (and to PACKAGES in .ci/bootstrap.sh)"
  elif [ -z "${in_bootstrap[${deb_of[$key]}]:-}" ]; then
    problem "$where: $what: needs the Debian package ${deb_of[$key]}, which PACKAGES in $bootstrap does not install"
  fi
  used[$key]=${used[$key]:-$where}
}
is_word() { [[ " $2 " == *" $1 "* ]]; }

FP_KEYWORDS="EXACT QUIET MODULE CONFIG NO_MODULE REQUIRED COMPONENTS OPTIONAL_COMPONENTS
  NO_POLICY_SCOPE GLOBAL BYPASS_PROVIDER NAMES CONFIGS HINTS PATHS PATH_SUFFIXES
  REGISTRY_VIEW NO_DEFAULT_PATH NO_PACKAGE_ROOT_PATH NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH
  NO_SYSTEM_ENVIRONMENT_PATH NO_CMAKE_PACKAGE_REGISTRY NO_CMAKE_BUILDS_PATH
  NO_CMAKE_SYSTEM_PATH NO_CMAKE_INSTALL_PREFIX NO_CMAKE_SYSTEM_PACKAGE_REGISTRY
  CMAKE_FIND_ROOT_PATH_BOTH ONLY_CMAKE_FIND_ROOT_PATH NO_CMAKE_FIND_ROOT_PATH"
PKG_KEYWORDS="REQUIRED QUIET NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH IMPORTED_TARGET GLOBAL"
PROG_KEYWORDS="NAMES NAMES_PER_DIR HINTS PATHS PATH_SUFFIXES DOC NO_CACHE REQUIRED
  VALIDATOR REGISTRY_VIEW ENV NO_DEFAULT_PATH NO_PACKAGE_ROOT_PATH NO_CMAKE_PATH
  NO_CMAKE_ENVIRONMENT_PATH NO_SYSTEM_ENVIRONMENT_PATH NO_CMAKE_SYSTEM_PATH
  NO_CMAKE_INSTALL_PREFIX CMAKE_FIND_ROOT_PATH_BOTH ONLY_CMAKE_FIND_ROOT_PATH
  NO_CMAKE_FIND_ROOT_PATH"

while IFS=$'\t' read -r where cmd args; do
  read -ra w <<< "$args"
  ((${#w[@]})) || continue
  if [[ "$args" == *"\${"* ]]; then
    problem "$where: $cmd($args): a computed name cannot be checked; spell it out"
    continue
  fi
  case $cmd in
    find_package)
      name=${w[0]}
      need "$name" "$where" "find_package($name)"
      comps=(); collecting=0
      for x in "${w[@]:1}"; do
        case $x in
          REQUIRED|COMPONENTS|OPTIONAL_COMPONENTS) collecting=1 ;;
          *) if is_word "$x" "$FP_KEYWORDS"; then collecting=0
             elif ((collecting)); then comps+=("$x"); fi ;;
        esac
      done
      # FindPython3 looks for the interpreter when no component is named.
      if [ "$name" = Python3 ] && ((${#comps[@]} == 0)); then comps=(Interpreter); fi
      for c in "${comps[@]}"; do
        need "$name:$c" "$where" "find_package($name COMPONENTS $c)"
      done ;;
    pkg_check_modules|pkg_search_module)
      for x in "${w[@]:1}"; do
        if is_word "$x" "$PKG_KEYWORDS"; then continue; fi
        mod=${x%%[<>=]*}
        need "pkg-config:$mod" "$where" "$cmd($mod)"
      done ;;
    find_program)
      names=()
      if [ "${w[1]:-}" = NAMES ]; then
        for x in "${w[@]:2}"; do
          if is_word "$x" "$PROG_KEYWORDS"; then break; fi
          names+=("$x")
        done
      elif [ -n "${w[1]:-}" ]; then
        names=("${w[1]}")
      fi
      # NAMES are alternatives: one of them known and installed is enough.
      ok=""
      for n in "${names[@]}"; do
        if [ -n "${deb_of[program:$n]:-}" ] && [ -n "${in_bootstrap[${deb_of[program:$n]}]:-}" ]; then
          ok=$n
        fi
      done
      if [ -n "$ok" ]; then used[program:$ok]=${used[program:$ok]:-$where}
      else need "program:${names[0]:-?}" "$where" "find_program(${names[*]})"; fi ;;
  esac
done <<< "$calls"

# Cross-check the table where this machine has the package: the file the table names
# must come from that package or from a package it depends on (two levels down).
# Packages that are not installed are skipped, so the result never depends on them.
if ((use_dpkg)) && command -v dpkg-query >/dev/null; then
  declare -A deps  # installed package -> its Depends and Pre-Depends, alternatives included
  while IFS=$'\t' read -r pkg status d; do
    if [ "$status" = installed ]; then deps[$pkg]=$d; fi
  done < <(dpkg-query -W -f='${Package}\t${db:Status-Status}\t${Depends}, ${Pre-Depends}\n' |
             sed -E 's/\([^)]*\)//g; s/:any//g; s/[|,]/ /g')
  for key in "${!used[@]}"; do
    deb=${deb_of[$key]:-}; file=${file_of[$key]:-}
    if [ -z "$deb" ] || [ -z "${in_bootstrap[$deb]:-}" ] || [ -z "$file" ] || [ -z "${deps[$deb]+set}" ]; then
      continue
    fi
    declare -A closure=([$deb]=1)
    for d in ${deps[$deb]}; do
      [ -n "${deps[$d]+set}" ] || continue
      closure[$d]=1
      for d2 in ${deps[$d]}; do
        if [ -n "${deps[$d2]+set}" ]; then closure[$d2]=1; fi
      done
    done
    regex=${file//./\\.}; regex=${regex//\*/.*}  # the glob as a regex (grep -x anchors it)
    # (grep -q stops reading early; the writer's SIGPIPE is no failure.)
    if ! { dpkg-query -L "${!closure[@]}" || true; } | grep -qx -- "$regex"; then
      problem "table: $key -> $deb, but the installed $deb and its dependencies ship no $file (first needed at ${used[$key]})"
    fi
    unset closure
  done
fi

if ((fail)); then
  echo "check_packages: FAILED (the table is in .ci/check_packages.sh, the packages in $bootstrap)" >&2
  exit 1
fi
echo "check_packages: ${#used[@]} CMake packages/components in ${#files[@]} files, all installed by $bootstrap"
