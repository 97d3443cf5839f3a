#pragma once
// Subcommands of the sieve binary. Each takes the arguments after its name
// and returns the process exit code; errors are thrown as sieve::Error.
namespace sieve::cli {

int run_command(int argc, char** argv);
int tokenize_command(int argc, char** argv);
int bench_command(int argc, char** argv);
int eval_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int template_command(int argc, char** argv);
int chat_command(int argc, char** argv);
int minference_search_command(int argc, char** argv);
int inspect_command(int argc, char** argv);
int act_search_command(int argc, char** argv);

}  // namespace sieve::cli
