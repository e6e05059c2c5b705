// Internal: parsing the option names the public *_name() functions give back, so each
// enum's names live in one place (its *_name() switch) and every layer (C++ hosts,
// configuration files, the Python bindings) words a bad one alike.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ortnative/error.hpp"

namespace ortnative::detail {

// The value among ALL whose NAME_OF is NAME; else InvalidArgumentError
// "WHAT must be one of 'a', 'b', got 'x'" (the Python API's wording).
template <class E, std::size_t N>
E from_name(std::string_view what, std::string_view name, const E (&all)[N],
            std::string_view (*name_of)(E) noexcept) {
  std::string allowed;
  for (E e : all) {
    if (name_of(e) == name) return e;
    allowed += (allowed.empty() ? "'" : ", '") + std::string(name_of(e)) + "'";
  }
  throw InvalidArgumentError(std::string(what) + " must be one of " + allowed + ", got '" +
                             std::string(name) + "'");
}

}  // namespace ortnative::detail
