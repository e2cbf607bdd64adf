# Sourced by mmvig's shell tools: mmvig_python ROOT prints the interpreter
# they run. $PYTHON when set; else the venv of the stack that MMVIG_STACK
# names (.venv/ for upstream, the default; .venv-onedl/ for onedl) when
# make setup made it, else the other one; else python from PATH.
mmvig_python() {
    local root=$1 venv venvs=(.venv .venv-onedl)
    if [[ -n ${PYTHON:-} ]]; then
        printf '%s\n' "$PYTHON"
        return
    fi
    [[ ${MMVIG_STACK:-upstream} == onedl ]] && venvs=(.venv-onedl .venv)
    for venv in "${venvs[@]}"; do
        if [[ -x $root/$venv/bin/python ]]; then
            printf '%s\n' "$root/$venv/bin/python"
            return
        fi
    done
    printf 'python\n'
}
