// Standard base64 (RFC 4648 section 4, with '=' padding): the encoding
// etcd's JSON gateway uses for keys and values (protobuf bytes fields).
//
// Threads: pure functions. Failure modes: base64_decode returns false on a
// character outside the alphabet or a length that is not a multiple of 4.
#pragma once

#include <string>
#include <string_view>

namespace kgw::etcd {

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string* out);

}  // namespace kgw::etcd
