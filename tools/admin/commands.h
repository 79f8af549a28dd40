// kgw-admin's command groups, one file each. Each takes the arguments after
// its name and returns the exit status (0 done, 1 failed, 2 bad usage);
// messages go to stdout, errors as one line to stderr.
#pragma once

#include <string>
#include <vector>

namespace kgw::admin {

int topics_command(const std::vector<std::string>& args);
int configs_command(const std::vector<std::string>& args);
int groups_command(const std::vector<std::string>& args);
int records_command(const std::vector<std::string>& args);
int acls_command(const std::vector<std::string>& args);
int cluster_command(const std::vector<std::string>& args);
int reassign_command(const std::vector<std::string>& args);
int migrate_command(const std::vector<std::string>& args);

// Shared by the commands: turns a leading action word into Kafka's action
// flag ("create" -> "--create"), so "topics create --topic t" and Kafka's
// "kafka-topics.sh --create --topic t" are the same.
std::vector<std::string> with_action_flag(const std::vector<std::string>& args,
                                          const std::vector<std::string>& actions);
// Prints "kgw-admin <what>: <message>" to stderr and returns `status`.
int fail(const std::string& what, const std::string& message, int status = 1);

}  // namespace kgw::admin
