// The C face of RE2. Kept to the few calls the model and the proxy need so the
// rest of the project stays C.
#include "core/regex.h"

#include <re2/re2.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

struct weir_regex {
    re2::RE2 re;
    explicit weir_regex(const char *pattern, const re2::RE2::Options &opt) : re(pattern, opt)
    {
    }
};

static re2::RE2::Options options(bool ignore_case)
{
    re2::RE2::Options opt;
    opt.set_case_sensitive(!ignore_case);
    opt.set_log_errors(false); // errors are returned to the caller, not printed
    opt.set_encoding(re2::RE2::Options::EncodingUTF8);
    // Bounds the compiled program (and the DFA cache) so one hostile pattern
    // in a config cannot take a worker's memory.
    opt.set_max_mem(8 << 20);
    return opt;
}

extern "C" struct weir_regex *weir_regex_compile(const char *pattern, char *err, size_t errlen)
{
    return weir_regex_compile_case(pattern, false, err, errlen);
}

extern "C" struct weir_regex *weir_regex_compile_case(const char *pattern, bool ignore_case,
                                                      char *err, size_t errlen)
{
    if (std::strlen(pattern) > WEIR_REGEX_MAX_PATTERN) {
        std::snprintf(err, errlen, "regex is longer than %d characters", WEIR_REGEX_MAX_PATTERN);
        return nullptr;
    }
    weir_regex *r = new (std::nothrow) weir_regex(pattern, options(ignore_case));
    if (!r) {
        std::snprintf(err, errlen, "out of memory");
        return nullptr;
    }
    if (!r->re.ok()) {
        std::snprintf(err, errlen, "invalid regex: %s", r->re.error().c_str());
        delete r;
        return nullptr;
    }
    return r;
}

extern "C" void weir_regex_free(struct weir_regex *re)
{
    delete re;
}

extern "C" bool weir_regex_full_match(const struct weir_regex *re, const char *s, size_t len)
{
    return re2::RE2::FullMatch(re2::StringPiece(s, len), re->re);
}

extern "C" bool weir_regex_partial_match(const struct weir_regex *re, const char *s, size_t len)
{
    return re2::RE2::PartialMatch(re2::StringPiece(s, len), re->re);
}

extern "C" char *weir_regex_replace_all(const struct weir_regex *re, const char *s, size_t len,
                                        const char *rewrite)
{
    try {
        std::string error;
        if (!re->re.CheckRewriteString(rewrite, &error))
            return nullptr;
        std::string out(s, len);
        re2::RE2::GlobalReplace(&out, re->re, rewrite);
        char *copy = static_cast<char *>(std::malloc(out.size() + 1));
        if (!copy)
            return nullptr;
        std::memcpy(copy, out.data(), out.size());
        copy[out.size()] = '\0';
        return copy;
    } catch (...) {
        return nullptr;
    }
}

extern "C" const char *weir_regex_check(const char *pattern)
{
    static thread_local char why[256];
    weir_regex *r = weir_regex_compile(pattern, why, sizeof(why));
    if (!r)
        return why;
    weir_regex_free(r);
    return nullptr;
}
