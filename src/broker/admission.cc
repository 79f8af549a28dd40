#include "src/broker/admission.h"

#include "all_messages.h"

namespace kgw {

std::string admit(const Session& session, std::int16_t api_key) {
  if (session.authenticated()) return "";
  // Kafka's SaslServerAuthenticator: before authentication a client may
  // only learn our versions and authenticate.
  if (api_key == ApiVersionsRequest::api_key || api_key == SaslHandshakeRequest::api_key ||
      api_key == SaslAuthenticateRequest::api_key) {
    return "";
  }
  return "api key " + std::to_string(api_key) + " before SASL authentication on listener " +
         session.listener;
}

}  // namespace kgw
