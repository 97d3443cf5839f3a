#pragma once
// Python's view of a string is a sequence of code points; these helpers
// convert UTF-8 to and from code points and classify and case-map them as
// Python's str methods do. Invalid UTF-8 bytes survive a round trip (they
// decode to the lone surrogates U+DC80..U+DCFF, as Python's surrogateescape).
#include <cstdint>
#include <string>
#include <string_view>

namespace sieve::chat {

std::u32string decode_utf8(std::string_view s);
std::string encode_utf8(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
bool is_ascii(std::string_view s);
// Number of code points.
int64_t count_code_points(std::string_view s);

bool is_space(char32_t c);  // str.isspace
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_alnum(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);

}  // namespace sieve::chat
