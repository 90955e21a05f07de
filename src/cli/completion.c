/* sluice completion bash: a completion script for bash. */
#include <stdio.h>
#include <string.h>

#include "sluice/cli.h"

static const char completion_usage[] =
    "Usage: sluice completion bash\n"
    "\n"
    "Print a bash completion script: verbs, flags, and the names of Rollouts\n"
    "and Applications (read with sluice get, honouring -n, --context and\n"
    "--kubeconfig on the line).\n"
    "\n"
    "Examples:\n"
    "  source <(sluice completion bash)\n"
    "  sluice completion bash > /etc/bash_completion.d/sluice\n";

static const char bash_script[] =
    "# bash completion for sluice (sluice completion bash)\n"
    "_sluice_names() { # KIND: names from 'sluice get KIND' with the line's flags\n"
    "\tlocal i args=()\n"
    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
    "\t\tcase ${COMP_WORDS[i]} in\n"
    "\t\t-n | --namespace | --context | --kubeconfig)\n"
    "\t\t\targs+=(\"${COMP_WORDS[i]}\" \"${COMP_WORDS[i + 1]}\") ;;\n"
    "\t\tesac\n"
    "\tdone\n"
    "\t\"${COMP_WORDS[0]}\" get \"$1\" \"${args[@]}\" 2>/dev/null | awk 'NR > 1 { print $1 }'\n"
    "}\n"
    "_sluice() {\n"
    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
    "\tlocal verbs=\"get status history stats promote abort retry pause resume sync diff render "
    "version completion help\"\n"
    "\tlocal kube=\"-n --namespace --kubeconfig --context --help\"\n"
    "\tCOMPREPLY=()\n"
    "\tif ((COMP_CWORD == 1)); then\n"
    "\t\tCOMPREPLY=($(compgen -W \"$verbs --help --version --log-level\" -- \"$cur\"))\n"
    "\t\treturn\n"
    "\tfi\n"
    "\tcase $prev in\n"
    "\t-o | --output) COMPREPLY=($(compgen -W \"wide json yaml\" -- \"$cur\")); return ;;\n"
    "\t--kubeconfig) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    "\t-n | --namespace | --context | --timeout | --since | --log-level) return ;;\n"
    "\tesac\n"
    "\tlocal verb=${COMP_WORDS[1]} flags=$kube\n"
    "\tcase $verb in\n"
    "\tget) flags=\"$kube -A --all-namespaces -o --output\"\n"
    "\t\t((COMP_CWORD == 2)) && [[ $cur != -* ]] && COMPREPLY=($(compgen -W \"apps rollouts\" -- "
    "\"$cur\")) ;;\n"
    "\tstatus) flags=\"$kube -w --watch --wait --timeout -o --output --no-color\" ;;\n"
    "\thistory) flags=\"$kube -o --output --no-color\" ;;\n"
    "\tstats) flags=\"$kube -A --all-namespaces --since -o --output\" ;;\n"
    "\tpromote) flags=\"$kube --full\" ;;\n"
    "\tsync) flags=\"$kube --wait --timeout\" ;;\n"
    "\trender) flags=\"-o --output --help\"; [[ $cur != -* ]] && COMPREPLY=($(compgen -d -- "
    "\"$cur\")) ;;\n"
    "\tcompletion) COMPREPLY=($(compgen -W bash -- \"$cur\")); return ;;\n"
    "\tesac\n"
    "\tif [[ $cur == -* ]]; then\n"
    "\t\tCOMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
    "\telif [[ ${#COMPREPLY[@]} -eq 0 ]]; then\n"
    "\t\tcase $verb in\n"
    "\t\tstatus | history | promote | abort | retry | pause | resume)\n"
    "\t\t\tCOMPREPLY=($(compgen -W \"$(_sluice_names rollouts)\" -- \"$cur\")) ;;\n"
    "\t\tsync | diff) COMPREPLY=($(compgen -W \"$(_sluice_names apps)\" -- \"$cur\")) ;;\n"
    "\t\tesac\n"
    "\tfi\n"
    "}\n"
    "complete -F _sluice sluice\n";

int cli_completion(struct cli *c, int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(completion_usage, c->out);
		return CLI_OK;
	}
	if (argc != 2 || strcmp(argv[1], "bash") != 0) {
		fputs(completion_usage, c->err);
		return CLI_ERROR;
	}
	fputs(bash_script, c->out);
	return CLI_OK;
}
