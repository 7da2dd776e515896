# bash completion for sekrets-cli: commands, options, and the hub's own protocol and
# credential names (asked of the daemon the command line names with --socket, else the
# default one; nothing is offered when it does not answer or is locked).
_sekrets_cli_cmd()
{
    sekrets-cli "${_sekrets_sock[@]}" --timeout 2000 "$@" 2>/dev/null
}

# COMPREPLY from the lines on stdin that start with $cur (names may hold spaces). Fed by
# a process substitution, not a pipe: a pipe would set COMPREPLY in a subshell.
_sekrets_cli_lines()
{
    local line
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -n $line && $line == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$line")")
    done
}

_sekrets_cli_protocols()
{
    _sekrets_cli_lines < <(_sekrets_cli_cmd hub | cut -f1)
}

_sekrets_cli_names() # PROTOCOL
{
    [[ -n $1 ]] && _sekrets_cli_lines < <(_sekrets_cli_cmd db "$1")
}

_sekrets_cli()
{
    local cur prev words cword
    _init_completion || return
    local cmds="status ping get db hub ls post put rm init unlock lock passwd rotate call exec import export help"
    local i cmd= cmdi=0
    _sekrets_sock=()
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket|-s) _sekrets_sock=(--socket "${words[i + 1]}"); ((i++)) ;;
            --timeout|-t) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; cmdi=$i; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        case $prev in
            --socket|-s) _filedir; return ;;
            --timeout|-t) return ;;
        esac
        COMPREPLY=($(compgen -W "$cmds --socket --timeout --help --version" -- "$cur"))
        return
    fi
    # the command's own words so far (options and their values left out), and -p's value
    local args=() proto=
    for ((i = cmdi + 1; i < cword; i++)); do
        case ${words[i]} in
            -p|--protocol) proto=${words[i + 1]}; ((i++)) ;;
            -f|--field|-F|-e|-o|--output|--passphrase-fd|--passphrase-file|--new-passphrase-fd|\
            --new-passphrase-file|--keyfile) ((i++)) ;;
            -*) ;;
            *) args+=("${words[i]}") ;;
        esac
    done
    case $prev in
        -p|--protocol) _sekrets_cli_protocols; return ;;
        --passphrase-file|--new-passphrase-file|--keyfile|-o|--output) _filedir; return ;;
        -F|-f|--field|-e|--passphrase-fd|--new-passphrase-fd) return ;;
    esac
    case $cmd in
        status|hub) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
        get)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-p -f --json" -- "$cur"))
            elif [[ ${#args[@]} -eq 0 ]]; then
                _sekrets_cli_names "$proto"
            fi ;;
        db|ls)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--json" -- "$cur"))
            elif [[ ${#args[@]} -eq 0 ]]; then
                _sekrets_cli_protocols
            fi ;;
        rm|post|put)
            if [[ $cur == -* ]]; then
                [[ $cmd == rm ]] || COMPREPLY=($(compgen -W "--json -F" -- "$cur"))
            elif [[ ${#args[@]} -eq 0 ]]; then
                _sekrets_cli_protocols
            elif [[ ${#args[@]} -eq 1 && $cmd != post ]]; then
                _sekrets_cli_names "${args[0]}"
            fi ;;
        init) COMPREPLY=($(compgen -W "--passphrase-fd --passphrase-file --allow-weak" -- "$cur")) ;;
        unlock) COMPREPLY=($(compgen -W "--passphrase-fd --passphrase-file --keyfile" -- "$cur")) ;;
        passwd) COMPREPLY=($(compgen -W "--passphrase-fd --passphrase-file --keyfile --new-passphrase-fd --new-passphrase-file --rotate --allow-weak" -- "$cur")) ;;
        exec) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "-e --" -- "$cur")) || _command_offset $((cmdi + 1)) ;;
        import) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "-p" -- "$cur")) || _filedir gluedb ;;
        export)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-p -o" -- "$cur"))
            elif [[ ${#args[@]} -eq 0 ]]; then
                _sekrets_cli_protocols
            fi ;;
        help) [[ ${#args[@]} -eq 0 ]] && COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
    esac
} && complete -F _sekrets_cli sekrets-cli
