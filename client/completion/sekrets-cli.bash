# bash completion for sekrets-cli
_sekrets_cli()
{
    local cur prev words cword
    _init_completion || return
    local cmds="status ping get db hub post put rm init unlock lock passwd rotate call exec import export"
    local i cmd=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket|--timeout|-s|-t) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; break ;;
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
    case $prev in
        -p|--protocol)
            COMPREPLY=($(compgen -W "$(sekrets-cli hub 2>/dev/null | cut -f1)" -- "$cur"))
            return ;;
        --passphrase-file|--new-passphrase-file|-o|--output) _filedir; return ;;
        -F|-f|-e|--passphrase-fd|--new-passphrase-fd) return ;;
    esac
    case $cmd in
        status|hub) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
        get) COMPREPLY=($(compgen -W "-p -f --json" -- "$cur")) ;;
        db|rm|post|put)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--json -F" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(sekrets-cli hub 2>/dev/null | cut -f1)" -- "$cur"))
            fi ;;
        init|unlock) COMPREPLY=($(compgen -W "--passphrase-fd --passphrase-file" -- "$cur")) ;;
        passwd) COMPREPLY=($(compgen -W "--passphrase-fd --passphrase-file --keyfile --new-passphrase-fd --new-passphrase-file --rotate" -- "$cur")) ;;
        exec) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "-e --" -- "$cur")) || _command_offset $((i + 1)) ;;
        import) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "-p" -- "$cur")) || _filedir gluedb ;;
        export) COMPREPLY=($(compgen -W "-p -o" -- "$cur")) ;;
    esac
} && complete -F _sekrets_cli sekrets-cli
