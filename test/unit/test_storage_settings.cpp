// Storage settings: postgresql.conf parsing, environment mapping, repository
// URLs and the mapping onto the driver configurations.
#include "pgvault/error.hpp"
#include "pgvault/storage/azure_storage.hpp"
#include "pgvault/storage/gcs_storage.hpp"
#include "pgvault/storage/open_repository.hpp"
#include "pgvault/storage/s3_storage.hpp"
#include "pgvault/storage/settings.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

using namespace pgvault;
using namespace pgvault::test;
namespace fs = std::filesystem;

namespace {

std::string error_text(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

class ConfigFile : public ::testing::Test {
 protected:
  fs::path file(const std::string& rel, const std::string& content) {
    fs::path p = tmp_.path() / rel;
    put_file(p, content);
    return p;
  }
  TempDir tmp_;
};

// ---- read_config_file -------------------------------------------------------------------

TEST_F(ConfigFile, KeepsOnlyPgvaultSettingsWithBothSyntaxes) {
  auto p = file("pg.conf",
                "# a comment\n"
                "shared_buffers = 128MB\n"
                "\n"
                "   pgvault.s3_region = eu-west-1   # trailing comment\n"
                "pgvault.s3_uri_style path\n"
                "PGVAULT.S3_Endpoint='http://127.0.0.1:9000'\n"
                "pgvault.repository = 's3://bucket/x'\n");
  StorageSettings s = read_config_file(p.string());
  StorageSettings want = {{"s3_region", "eu-west-1"},
                          {"s3_uri_style", "path"},
                          {"s3_endpoint", "http://127.0.0.1:9000"},
                          {"repository", "s3://bucket/x"}};
  EXPECT_EQ(s, want);
}

TEST_F(ConfigFile, QuotesAndEscapes) {
  auto p = file("pg.conf",
                "pgvault.a = 'it''s'\n"
                "pgvault.b = 'back\\\\slash \\'q\\' tab\\tnl\\n'\n"
                "pgvault.c = '\\101\\x'\n"
                "pgvault.d = ''\n"
                "pgvault.e = 'has # hash'  # comment\n");
  StorageSettings s = read_config_file(p.string());
  EXPECT_EQ(s["a"], "it's");
  EXPECT_EQ(s["b"], "back\\slash 'q' tab\tnl\n");
  EXPECT_EQ(s["c"], "Ax");
  EXPECT_EQ(s["d"], "");
  EXPECT_EQ(s["e"], "has # hash");
}

TEST_F(ConfigFile, LaterSettingsOverrideEarlierOnes) {
  file("conf.d/10-a.conf", "pgvault.s3_region = 'from-10'\npgvault.azure_account = acc10\n");
  file("conf.d/20-b.conf", "pgvault.s3_region = 'from-20'\n");
  file("conf.d/.hidden.conf", "pgvault.s3_region = 'hidden'\n");
  file("conf.d/30-c.txt", "pgvault.s3_region = 'not-conf'\n");
  auto p = file("pg.conf",
                "pgvault.s3_region = first\n"
                "pgvault.azure_account = first\n"
                "include_dir 'conf.d'\n"
                "pgvault.azure_account = last\n");
  StorageSettings s = read_config_file(p.string());
  EXPECT_EQ(s["s3_region"], "from-20");
  EXPECT_EQ(s["azure_account"], "last");
}

TEST_F(ConfigFile, IncludesResolveRelativeToTheIncludingFile) {
  file("sub/inner.conf", "pgvault.s3_region = inner\ninclude 'deeper/leaf.conf'\n");
  file("sub/deeper/leaf.conf", "pgvault.s3_endpoint = 'http://leaf'\n");
  auto p = file("main.conf",
                "include 'sub/inner.conf'\n"
                "include_if_exists 'missing.conf'\n"
                "include_if_exists = 'sub/deeper/leaf.conf'\n"
                "INCLUDE_IF_EXISTS 'sub/nope/x.conf'\n");
  StorageSettings s = read_config_file(p.string());
  EXPECT_EQ(s["s3_region"], "inner");
  EXPECT_EQ(s["s3_endpoint"], "http://leaf");
  EXPECT_EQ(s.size(), 2u);
}

TEST_F(ConfigFile, AbsoluteIncludePath) {
  auto other = file("elsewhere/abs.conf", "pgvault.azure_account = abs\n");
  auto p = file("dir/main.conf", "include '" + other.string() + "'\n");
  EXPECT_EQ(read_config_file(p.string())["azure_account"], "abs");
}

TEST_F(ConfigFile, MissingFilesAreIoErrorsWithLocation) {
  expect_error([&] { read_config_file((tmp_.path() / "none.conf").string()); }, ErrorKind::io,
               "none.conf");
  auto p = file("main.conf", "# one\ninclude 'gone.conf'\n");
  std::string msg = error_text([&] { read_config_file(p.string()); });
  EXPECT_NE(msg.find("main.conf:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gone.conf"), std::string::npos) << msg;
  auto q = file("main2.conf", "include_dir 'nodir'\n");
  expect_error([&] { read_config_file(q.string()); }, ErrorKind::io, "main2.conf:1");
}

TEST_F(ConfigFile, IncludeDepthIsLimited) {
  // A file that includes itself.
  auto p = file("loop.conf", "pgvault.s3_region = x\ninclude 'loop.conf'\n");
  expect_error([&] { read_config_file(p.string()); }, ErrorKind::invalid_argument,
               "maximum nesting depth");
  // Ten levels of nesting are fine.
  for (int i = 1; i <= 10; ++i)
    file("n" + std::to_string(i) + ".conf",
         i < 10 ? "include 'n" + std::to_string(i + 1) + ".conf'\n" : "pgvault.s3_region = deep\n");
  auto top = file("top.conf", "include 'n1.conf'\n");
  EXPECT_EQ(read_config_file(top.string())["s3_region"], "deep");
  // Eleven are not.
  auto top11 = file("top11.conf", "include 'top.conf'\n");
  expect_error([&] { read_config_file(top11.string()); }, ErrorKind::invalid_argument,
               "maximum nesting depth");
}

TEST_F(ConfigFile, SyntaxErrorsNameFileAndLine) {
  auto p = file("bad.conf", "pgvault.s3_region = ok\n\npgvault.s3_region = 'unterminated\n");
  std::string msg = error_text([&] { read_config_file(p.string()); });
  EXPECT_NE(msg.find("bad.conf:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unterminated"), std::string::npos) << msg;

  auto q = file("bad2.conf", "= value\n");
  expect_error([&] { read_config_file(q.string()); }, ErrorKind::invalid_argument,
               "bad2.conf:1: syntax error: expected a setting name");
  auto r = file("bad3.conf", "pgvault.s3_region =\n");
  expect_error([&] { read_config_file(r.string()); }, ErrorKind::invalid_argument,
               "missing value for pgvault.s3_region");
  auto t = file("bad4.conf", "pgvault.s3_region = a b\n");
  expect_error([&] { read_config_file(t.string()); }, ErrorKind::invalid_argument, "near \"b\"");
}

TEST_F(ConfigFile, SecretValuesAreNeverEchoed) {
  auto p = file("s.conf", "pgvault.s3_secret_access_key = 'SUPERSECRET' trailing-SUPERSECRET2\n");
  std::string msg = error_text([&] { read_config_file(p.string()); });
  EXPECT_EQ(msg.find("SUPERSECRET"), std::string::npos) << msg;
  EXPECT_NE(msg.find("<hidden>"), std::string::npos) << msg;
  EXPECT_NE(msg.find("s.conf:1"), std::string::npos) << msg;

  auto q = file("s2.conf", "pgvault.azure_key = 'abcSECRET\n");
  msg = error_text([&] { read_config_file(q.string()); });
  EXPECT_EQ(msg.find("abcSECRET"), std::string::npos) << msg;

  EXPECT_TRUE(is_secret_setting("s3_secret_access_key"));
  EXPECT_TRUE(is_secret_setting("azure_sas_token"));
  EXPECT_TRUE(is_secret_setting("azure_key"));
  EXPECT_TRUE(is_secret_setting("replication_password"));
  EXPECT_FALSE(is_secret_setting("s3_region"));
}

// ---- read_server_config ----------------------------------------------------------------------

TEST(DefaultRepository, IsBesideTheDataDirectory) {
  EXPECT_EQ(default_repository_url("/var/lib/postgresql/15/main"),
            "file:///var/lib/postgresql/15/pgvault");
  EXPECT_EQ(default_repository_url("/var/lib/postgresql/15/main/"),
            "file:///var/lib/postgresql/15/pgvault");
  EXPECT_EQ(default_repository_url("/data"), "file:///pgvault");
}

TEST_F(ConfigFile, AServersPostgresqlConfIsReadWithItsAutoConfAndDefaults) {
  // initdb's layout: postgresql.conf in the data directory.
  file("data/PG_VERSION", "15\n");
  auto conf = file("data/postgresql.conf",
                   "shared_buffers = 128MB\n"
                   "pgvault.encryption_passphrase = 'stale'\n"
                   "pgvault.s3_region = 'from-conf'\n");
  file("data/postgresql.auto.conf",
       "# Do not edit this file manually!\n"
       "pgvault.encryption_passphrase = 'altered'\n");
  ServerConfig c = read_server_config(conf.string());
  const std::string data = (tmp_.path() / "data").string();
  EXPECT_EQ(c.data_directory, data);
  EXPECT_EQ(c.settings["encryption_passphrase"], "altered") << "ALTER SYSTEM wins";
  EXPECT_EQ(c.settings["s3_region"], "from-conf");
  EXPECT_EQ(c.settings["repository"], "file://" + tmp_.path().string() + "/pgvault");
  EXPECT_TRUE(c.default_repository);
  EXPECT_EQ(c.files, (std::vector<std::string>{conf.string(), data + "/postgresql.auto.conf"}));

  // A repository set by ALTER SYSTEM, or in the file, is no default.
  file("data/postgresql.auto.conf", "pgvault.repository = 's3://altered'\n");
  c = read_server_config(conf.string());
  EXPECT_EQ(c.settings["repository"], "s3://altered");
  EXPECT_FALSE(c.default_repository);
}

TEST_F(ConfigFile, DataDirectorySettingFindsTheAutoConfElsewhere) {
  // Debian's layout: /etc/postgresql/15/main/postgresql.conf names the data directory.
  const std::string data = (tmp_.path() / "var/main").string();
  file("var/main/PG_VERSION", "15\n");
  file("var/main/postgresql.auto.conf", "pgvault.repository = 'file:///backups/altered'\n");
  auto conf = file("etc/main/postgresql.conf", "data_directory = '" + data +
                                                   "/'\npgvault.repository = 'file:///backups/"
                                                   "conf'\n");
  ServerConfig c = read_server_config(conf.string());
  EXPECT_EQ(c.data_directory, data);
  EXPECT_NE(c.data_directory_from.find("data_directory in"), std::string::npos);
  EXPECT_EQ(c.settings["repository"], "file:///backups/altered");
  EXPECT_FALSE(c.default_repository);
  EXPECT_EQ(c.settings.count("data_directory"), 0u) << "not a pgvault setting";

  // No auto.conf (yet): the file alone, and the default beside the data directory.
  fs::remove(tmp_.path() / "var/main/postgresql.auto.conf");
  conf = file("etc/main/postgresql.conf", "data_directory = '" + data + "'\n");
  c = read_server_config(conf.string());
  EXPECT_EQ(c.files, std::vector<std::string>{conf.string()});
  EXPECT_EQ(c.settings["repository"], "file://" + tmp_.path().string() + "/var/pgvault");
  EXPECT_TRUE(c.default_repository);
}

TEST_F(ConfigFile, AFileOutsideADataDirectoryIsReadAlone) {
  file("postgresql.auto.conf", "pgvault.s3_region = 'not-read'\n");  // no PG_VERSION here
  auto conf = file("pgvault.conf", "pgvault.s3_region = 'mine'\n");
  ServerConfig c = read_server_config(conf.string());
  EXPECT_EQ(c.data_directory, "");
  EXPECT_EQ(c.settings, (StorageSettings{{"s3_region", "mine"}})) << "no default repository";
  EXPECT_NE(c.data_directory_from.find("no PG_VERSION"), std::string::npos)
      << c.data_directory_from;

  // A relative data_directory cannot be placed: said, not guessed.
  conf = file("rel.conf", "data_directory = 'main'\n");
  file("main/PG_VERSION", "15\n");
  c = read_server_config(conf.string());
  EXPECT_EQ(c.data_directory, "");
  EXPECT_NE(c.data_directory_from.find("is relative"), std::string::npos) << c.data_directory_from;
  EXPECT_EQ(c.settings.count("repository"), 0u);
}

TEST_F(ConfigFile, AnUnreadableAutoConfIsAnErrorNotSkipped) {
  file("data/PG_VERSION", "15\n");
  fs::create_directories(tmp_.path() / "data/postgresql.auto.conf");  // exists, cannot be read
  auto conf0 = file("data/postgresql.conf", "pgvault.s3_region = 'x'\n");
  expect_error([&] { read_server_config(conf0.string()); }, ErrorKind::io,
               "postgresql.auto.conf\" (ALTER SYSTEM's values there override");
  fs::remove(tmp_.path() / "data/postgresql.auto.conf");
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  auto conf = file("data/postgresql.conf", "pgvault.s3_region = 'x'\n");
  auto auto_conf = file("data/postgresql.auto.conf", "pgvault.encryption_passphrase = 'p'\n");
  fs::permissions(auto_conf, fs::perms::none);
  expect_error([&] { read_server_config(conf.string()); }, ErrorKind::io,
               "postgresql.auto.conf\": Permission denied (ALTER SYSTEM's values there override");
}

// ---- apply_environment --------------------------------------------------------------------

struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

TEST(StorageEnvironment, VendorVariables) {
  FakeEnv env{{{"AWS_ACCESS_KEY_ID", "AKID"},
               {"AWS_SECRET_ACCESS_KEY", "SECRET"},
               {"AWS_SESSION_TOKEN", "TOK"},
               {"AWS_DEFAULT_REGION", "eu-central-1"},
               {"AWS_ENDPOINT_URL", "http://generic"},
               {"AZURE_STORAGE_ACCOUNT", "acct"},
               {"AZURE_STORAGE_KEY", "a2V5"},
               {"AZURE_STORAGE_SAS_TOKEN", "sv=1"},
               {"HOME", "/root"}}};
  StorageSettings s;
  apply_environment(s, env.fn());
  StorageSettings want = {{"s3_access_key_id", "AKID"},
                          {"s3_secret_access_key", "SECRET"},
                          {"s3_session_token", "TOK"},
                          {"s3_region", "eu-central-1"},
                          {"s3_endpoint", "http://generic"},
                          {"azure_account", "acct"},
                          {"azure_key", "a2V5"},
                          {"azure_sas_token", "sv=1"}};
  EXPECT_EQ(s, want);
}

TEST(StorageEnvironment, PrecedenceAndUnsetOnly) {
  FakeEnv env{{{"AWS_REGION", "us-west-2"},
               {"AWS_DEFAULT_REGION", "eu-central-1"},
               {"AWS_ENDPOINT_URL_S3", "http://s3-specific"},
               {"AWS_ENDPOINT_URL", "http://generic"},
               {"AWS_ACCESS_KEY_ID", "vendor"},
               {"PGVAULT_S3_ACCESS_KEY_ID", "pgvault"},
               {"PGVAULT_S3_URI_STYLE", "path"},
               {"AZURE_STORAGE_ACCOUNT", "env-account"},
               {"AWS_SECRET_ACCESS_KEY", ""}}};
  StorageSettings s = {{"azure_account", "configured"}, {"s3_secret_access_key", ""}};
  apply_environment(s, env.fn());
  EXPECT_EQ(s["s3_region"], "us-west-2");             // AWS_REGION before AWS_DEFAULT_REGION
  EXPECT_EQ(s["s3_endpoint"], "http://s3-specific");  // the S3-specific one first
  EXPECT_EQ(s["s3_access_key_id"], "pgvault");        // PGVAULT_* wins
  EXPECT_EQ(s["s3_uri_style"], "path");               // generic PGVAULT_<NAME>
  EXPECT_EQ(s["azure_account"], "configured");        // set settings are kept
  EXPECT_EQ(s["s3_secret_access_key"], "");           // empty variables count as unset
}

TEST(StorageEnvironment, DefaultsToTheProcessEnvironment) {
  ::setenv("PGVAULT_STORAGE_CA_FILE", "/tmp/ca.pem", 1);
  StorageSettings s;
  apply_environment(s);
  ::unsetenv("PGVAULT_STORAGE_CA_FILE");
  EXPECT_EQ(s["storage_ca_file"], "/tmp/ca.pem");
}

// ---- parse_repository_url -------------------------------------------------------------------

TEST(RepositoryUrl, Good) {
  auto f = parse_repository_url("file:///var/lib//backups/./x/");
  EXPECT_EQ(f.scheme, "file");
  EXPECT_EQ(f.path, "/var/lib/backups/x");
  EXPECT_EQ(parse_repository_url("/srv/repo").path, "/srv/repo");

  auto s = parse_repository_url("s3://my-bucket.v2/pg/prod");
  EXPECT_EQ(s.scheme, "s3");
  EXPECT_EQ(s.container, "my-bucket.v2");
  EXPECT_EQ(s.prefix, "pg/prod");
  EXPECT_TRUE(s.path.empty());

  auto a = parse_repository_url("azure://backups-01");
  EXPECT_EQ(a.scheme, "azure");
  EXPECT_EQ(a.container, "backups-01");
  EXPECT_EQ(a.prefix, "");

  auto g = parse_repository_url("gs://my_bucket/p");
  EXPECT_EQ(g.scheme, "gs");
  EXPECT_EQ(g.container, "my_bucket");
  EXPECT_EQ(g.prefix, "p");
}

TEST(RepositoryUrl, Bad) {
  auto bad = [](const std::string& url, const std::string& needle) {
    SCOPED_TRACE(url);
    expect_error([&] { parse_repository_url(url); }, ErrorKind::invalid_argument, needle);
  };
  bad("relative/path", "file:///absolute/path, s3://bucket[/prefix]");
  bad("http://host/x", "unsupported scheme \"http\"");
  bad("file://host/x", "absolute path");
  bad("s3://ab", "3 to 63 characters");
  bad("s3://" + std::string(64, 'a'), "wrong length");
  bad("s3://My-Bucket", "uppercase letter");
  bad("s3://bucket_x", "the character '_'");
  bad("s3://-bucket", "begin and end with a letter or digit");
  bad("s3://a..b", "consecutive dots");
  bad("s3://192.168.1.1", "IP address");
  bad("s3:///prefix", "bucket name is missing");
  bad("azure://my.container", "the character '.'");
  bad("azure://a--b", "consecutive hyphens");
  bad("azure://abc-", "begin and end");
  bad("gs://googbucket", "goog");
  bad("s3://bucket/", "trailing '/'");
  bad("s3://bucket//p", "must not start with '/'");
  bad("s3://bucket/p/", "must not end with '/'");
  bad("s3://bucket/a//b", "empty segment");
  bad("s3://bucket/a/../b", "\"..\" segment");
  bad("s3://bucket/./b", "\".\" segment");
  bad("azure://container?sv=2020&sig=abc", "query");
}

TEST(RepositoryUrl, CredentialsInTheUrlAreNotEchoed) {
  std::string msg = error_text([] { parse_repository_url("s3://AKID:VERYSECRET@bucket/p"); });
  EXPECT_EQ(msg.find("VERYSECRET"), std::string::npos) << msg;
  EXPECT_NE(msg.find("credentials"), std::string::npos) << msg;
  msg = error_text([] { parse_repository_url("azure://container?sv=2020&sig=SIGVALUE"); });
  EXPECT_EQ(msg.find("SIGVALUE"), std::string::npos) << msg;
}

// ---- s3_config_from / azure_config_from -------------------------------------------------------

StorageSettings s3_creds() {
  return {{"s3_access_key_id", "AKID"}, {"s3_secret_access_key", "SECRET"}};
}

TEST(S3Settings, DefaultsAndMapping) {
  auto url = parse_repository_url("s3://bucket/pre/fix");
  S3Config c = s3_config_from(url, s3_creds());
  EXPECT_EQ(c.bucket, "bucket");
  EXPECT_EQ(c.prefix, "pre/fix");
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.endpoint, "");
  EXPECT_EQ(c.uri_style, "host");
  EXPECT_EQ(c.access_key_id, "AKID");
  EXPECT_EQ(c.secret_access_key, "SECRET");
  EXPECT_EQ(c.session_token, "");
  EXPECT_EQ(c.part_size, S3Config{}.part_size);
  EXPECT_EQ(c.parts_in_flight, S3Config{}.parts_in_flight);

  StorageSettings s = s3_creds();
  s["s3_region"] = "eu-west-3";
  s["s3_session_token"] = "TOKEN";
  s["s3_part_size"] = "16MB";
  s["s3_parts_in_flight"] = "8";
  s["s3_endpoint"] = "https://minio.example.com:9000";
  c = s3_config_from(url, s);
  EXPECT_EQ(c.region, "eu-west-3");
  EXPECT_EQ(c.session_token, "TOKEN");
  EXPECT_EQ(c.part_size, 16ull << 20);
  EXPECT_EQ(c.parts_in_flight, 8);
  EXPECT_EQ(c.endpoint, "https://minio.example.com:9000");
  EXPECT_EQ(c.uri_style, "host");  // a named custom endpoint keeps virtual-host style
}

TEST(S3Settings, UriStyleAuto) {
  auto url = parse_repository_url("s3://bucket");
  for (std::string ep : {"http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000",
                         "https://10.0.0.5"}) {
    StorageSettings s = s3_creds();
    s["s3_endpoint"] = ep;
    EXPECT_EQ(s3_config_from(url, s).uri_style, "path") << ep;
  }
  StorageSettings s = s3_creds();
  s["s3_endpoint"] = "http://127.0.0.1:9000";
  s["s3_uri_style"] = "HOST";
  EXPECT_EQ(s3_config_from(url, s).uri_style, "host");  // explicit wins
  s["s3_uri_style"] = "virtual";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument,
               "pgvault.s3_uri_style: expected host or path");
  s["s3_uri_style"] = "";
  s["s3_endpoint"] = "not a url";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument, "pgvault.s3_endpoint");
}

TEST(S3Settings, MissingCredentialsNameSettingAndVariable) {
  auto url = parse_repository_url("s3://bucket/p");
  std::string msg = error_text([&] { s3_config_from(url, {}); });
  EXPECT_NE(msg.find("s3://bucket/p"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pgvault.s3_access_key_id"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AWS_ACCESS_KEY_ID"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pgvault.s3_secret_access_key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << msg;

  StorageSettings s = {{"s3_access_key_id", "AKID"}};
  msg = error_text([&] { s3_config_from(url, s); });
  EXPECT_EQ(msg.find("s3_access_key_id"), std::string::npos) << msg;
  EXPECT_NE(msg.find("PGVAULT_S3_SECRET_ACCESS_KEY"), std::string::npos) << msg;
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument);
}

TEST(S3Settings, BadNumbersAndSizes) {
  auto url = parse_repository_url("s3://bucket");
  StorageSettings s = s3_creds();
  s["s3_part_size"] = "16 parsecs";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument,
               "\"16 parsecs\" for pgvault.s3_part_size: unknown unit");
  s["s3_part_size"] = "8MiB";
  s["s3_parts_in_flight"] = "many";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument,
               "pgvault.s3_parts_in_flight");
  EXPECT_EQ(parse_size_setting("x", "1048576"), 1048576u);
  EXPECT_EQ(parse_size_setting("x", "64kB"), 64u << 10);
  EXPECT_EQ(parse_size_setting("x", " 2 GB "), 2ull << 30);
  EXPECT_EQ(parse_size_setting("x", "1TB"), 1ull << 40);
  expect_error([&] { parse_size_setting("x", "99999999999TB"); }, ErrorKind::invalid_argument,
               "too large");
  expect_error([&] { parse_size_setting("x", "MB"); }, ErrorKind::invalid_argument,
               "expected a size");
}

// Values from a file with CRLF line ends or an environment variable set
// with a trailing newline parse like PostgreSQL's own (white space around
// the value is ignored).
TEST(SettingValues, AsciiWhiteSpaceAroundTheValue) {
  EXPECT_EQ(parse_size_setting("x", "16MB\r\n"), 16ull << 20);
  EXPECT_EQ(parse_int_setting("x", "\t7\n"), 7);
  EXPECT_EQ(parse_duration_ms_setting("x", " 2 min\r"), 120000u);
  EXPECT_TRUE(parse_bool_setting("x", "on\n"));
  expect_error([&] { parse_int_setting("x", "7 7"); }, ErrorKind::invalid_argument,
               "expected a whole number");
  // A secret's value never appears, whatever went wrong with it.
  expect_error([&] { parse_size_setting("s3_secret_access_key", "letmein"); },
               ErrorKind::invalid_argument,
               "invalid value <hidden> for pgvault.s3_secret_access_key");
}

TEST(S3Settings, TyposAreCaught) {
  auto url = parse_repository_url("s3://bucket");
  StorageSettings s = s3_creds();
  s["s3_regoin"] = "eu-west-1";
  std::string msg = error_text([&] { s3_config_from(url, s); });
  EXPECT_NE(msg.find("unknown setting pgvault.s3_regoin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean pgvault.s3_region?"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pgvault.s3_uri_style"), std::string::npos) << msg;  // lists valid ones
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument);

  s = s3_creds();
  s["azure_acount"] = "x";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument,
               "valid azure_ settings: pgvault.azure_account");
  s = s3_creds();
  s["storage_verify_ssl"] = "off";
  expect_error([&] { s3_config_from(url, s); }, ErrorKind::invalid_argument,
               "pgvault.storage_verify_tls");
  // Other pgvault settings are not storage settings and pass.
  s = s3_creds();
  s["repository"] = "s3://bucket";
  s["compression"] = "zstd";
  EXPECT_NO_THROW(s3_config_from(url, s));
}

TEST(S3Settings, SecretsNotInErrors) {
  auto url = parse_repository_url("s3://bucket");
  StorageSettings s = s3_creds();
  s["s3_secret_access_key"] = "TOPSECRET";
  s["s3_parts_in_flight"] = "x";
  std::string msg = error_text([&] { s3_config_from(url, s); });
  EXPECT_EQ(msg.find("TOPSECRET"), std::string::npos) << msg;
}

TEST(AzureSettings, Mapping) {
  auto url = parse_repository_url("azure://container/pre");
  StorageSettings s = {{"azure_account", "devstoreaccount1"},
                       {"azure_key", "a2V5"},
                       {"azure_endpoint", "http://127.0.0.1:10000/devstoreaccount1"},
                       {"azure_block_size", "4MB"},
                       {"azure_blocks_in_flight", "2"}};
  AzureConfig c = azure_config_from(url, s);
  EXPECT_EQ(c.container, "container");
  EXPECT_EQ(c.prefix, "pre");
  EXPECT_EQ(c.account, "devstoreaccount1");
  EXPECT_EQ(c.key, "a2V5");
  EXPECT_EQ(c.sas_token, "");
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(c.block_size, 4ull << 20);
  EXPECT_EQ(c.blocks_in_flight, 2);

  StorageSettings sas = {{"azure_account", "acct"}, {"azure_sas_token", "?sv=2020&sig=x"}};
  c = azure_config_from(url, sas);
  EXPECT_EQ(c.sas_token, "sv=2020&sig=x");
  EXPECT_EQ(c.key, "");
  EXPECT_EQ(c.endpoint, "");
  EXPECT_EQ(c.block_size, AzureConfig{}.block_size);
}

TEST(AzureSettings, MissingCredentials) {
  auto url = parse_repository_url("azure://container");
  expect_error(
      [&] {
        azure_config_from(url, {{"azure_key", "a2V5"}});
      },
      ErrorKind::invalid_argument,
      "pgvault.azure_account (environment: "
      "AZURE_STORAGE_ACCOUNT or PGVAULT_AZURE_ACCOUNT)");
  std::string msg = error_text([&] { azure_config_from(url, {{"azure_account", "a"}}); });
  EXPECT_NE(msg.find("pgvault.azure_key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AZURE_STORAGE_KEY"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pgvault.azure_sas_token"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AZURE_STORAGE_SAS_TOKEN"), std::string::npos) << msg;
  expect_error(
      [&] {
        azure_config_from(
            url, {{"azure_account", "a"}, {"azure_key", "a2V5"}, {"azure_sas_token", "S"}});
      },
      ErrorKind::invalid_argument, "only one of");
  expect_error([&] { azure_config_from(parse_repository_url("s3://bucket"), {}); },
               ErrorKind::invalid_argument, "not an Azure repository");
}

// ---- http_options_from
// ---------------------------------------------------------------------------

TEST(HttpSettings, Options) {
  http::HttpOptions d = http_options_from({});
  EXPECT_TRUE(d.verify_tls);
  EXPECT_EQ(d.ca_file, "");
  EXPECT_EQ(d.connect_timeout_ms, http::HttpOptions{}.connect_timeout_ms);
  EXPECT_EQ(d.stall_timeout_s, http::HttpOptions{}.stall_timeout_s);

  http::HttpOptions o = http_options_from({{"storage_ca_file", "/etc/ca.pem"},
                                           {"storage_verify_tls", "off"},
                                           {"storage_connect_timeout", "5"},
                                           {"storage_stall_timeout", "2min"}});
  EXPECT_FALSE(o.verify_tls);
  EXPECT_EQ(o.ca_file, "/etc/ca.pem");
  EXPECT_EQ(o.connect_timeout_ms, 5000);
  EXPECT_EQ(o.stall_timeout_s, 120);

  for (auto [v, want] : std::vector<std::pair<std::string, bool>>{
           {"on", true}, {"TRUE", true}, {"false", false}, {"Off", false}}) {
    EXPECT_EQ(http_options_from({{"storage_verify_tls", v}}).verify_tls, want) << v;
  }
  EXPECT_EQ(http_options_from({{"storage_connect_timeout", "1500ms"}}).connect_timeout_ms, 1500);
  expect_error(
      [] {
        http_options_from({{"storage_verify_tls", "maybe"}});
      },
      ErrorKind::invalid_argument, "pgvault.storage_verify_tls: expected on, off");
  expect_error(
      [] {
        http_options_from({{"storage_connect_timeout", "5 days"}});
      },
      ErrorKind::invalid_argument, "unknown unit");
  expect_error(
      [] {
        http_options_from({{"storage_connect_timeout", "0"}});
      },
      ErrorKind::invalid_argument, "greater than zero");
}

// ---- open_repository ------------------------------------------------------------------------

TEST(OpenRepository, FileRepository) {
  TempDir tmp;
  std::string url = "file://" + (tmp.path() / "repo").string();
  auto st = open_repository(url, {});
  st->write_all("a/b.txt", "hello");
  EXPECT_EQ(st->read_all("a/b.txt"), "hello");
  // The plain path opens the same storage.
  auto same = open_repository((tmp.path() / "repo").string(), {});
  EXPECT_EQ(same->read_all("a/b.txt"), "hello");
  EXPECT_EQ(st->url(), same->url());
}

// Readers ask for a repository that exists: a missing root is not an empty
// repository.
TEST(OpenRepository, MustExistNamesWhatIsMissing) {
  TempDir tmp;
  const std::string missing = (tmp.path() / "mistyped").string();
  EXPECT_NO_THROW(open_repository(missing, {}));  // writers create it
  expect_error([&] { open_repository(missing, {}, RepositoryRoot::must_exist); },
               ErrorKind::not_found,
               "repository file://" + missing + " does not exist (no directory " + missing +
                   "); check the URL");
  fs::create_directories(missing);
  EXPECT_NO_THROW(open_repository(missing, {}, RepositoryRoot::must_exist));
}

TEST(OpenRepository, WhatAMissingRootIs) {
  EXPECT_EQ(parse_repository_url("file:///srv/repo/").missing_root(), "no directory /srv/repo");
  EXPECT_EQ(parse_repository_url("s3://bucket/p").missing_root(), "no bucket \"bucket\"");
  EXPECT_EQ(parse_repository_url("gs://bucket").missing_root(), "no bucket \"bucket\"");
  EXPECT_EQ(parse_repository_url("azure://box/a/b").missing_root(), "no container \"box\"");
  EXPECT_EQ(parse_repository_url("azure://box/a/b").label(), "azure://box/a/b");
  EXPECT_EQ(parse_repository_url("s3://bucket").label(), "s3://bucket");
  EXPECT_EQ(parse_repository_url("/srv/repo").label(), "file:///srv/repo");
}

TEST(OpenRepository, S3AndAzureOpenWithoutNetwork) {
  // Port 1 on the loopback: any request would fail; opening sends none.
  StorageSettings s = s3_creds();
  s["s3_endpoint"] = "http://127.0.0.1:1";
  auto st = open_repository("s3://bucket/pre", s);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->url(), "s3://bucket/pre");

  StorageSettings a = {{"azure_account", "devstoreaccount1"},
                       {"azure_key", "a2V5"},
                       {"azure_endpoint", "http://127.0.0.1:1/devstoreaccount1"}};
  auto az = open_repository("azure://container/pre", a);
  ASSERT_NE(az, nullptr);
  EXPECT_EQ(az->url(), "azure://container/pre");
}

TEST(OpenRepository, Errors) {
  expect_error([] { open_repository("gs://bucket/p", {}); }, ErrorKind::invalid_argument,
               "GOOGLE_APPLICATION_CREDENTIALS");
  expect_error([] { open_repository("s3://bucket/p", {}); }, ErrorKind::invalid_argument,
               "AWS_ACCESS_KEY_ID");
  expect_error([] { open_repository("ftp://x/y", {}); }, ErrorKind::invalid_argument,
               "unsupported scheme");
  // Driver validation still applies (5 MiB minimum part size).
  StorageSettings s = s3_creds();
  s["s3_part_size"] = "1MB";
  expect_error([&] { open_repository("s3://bucket", s); }, ErrorKind::invalid_argument,
               "part_size");
}

TEST(OpenRepository, ValidateRepositoryUrlAcceptsEveryStore) {
  EXPECT_NO_THROW(validate_repository_url("s3://bucket/p"));
  EXPECT_NO_THROW(validate_repository_url("azure://container"));
  EXPECT_NO_THROW(validate_repository_url("gs://bucket/a/b"));
  EXPECT_NO_THROW(validate_repository_url("file:///srv/repo"));
  EXPECT_NO_THROW(validate_repository_url("/srv/repo"));
  expect_error([] { validate_repository_url("s3://Bad_Bucket"); }, ErrorKind::invalid_argument,
               "Bad_Bucket");
  expect_error([] { validate_repository_url("file:///"); }, ErrorKind::invalid_argument, "root");
  expect_error([] { validate_repository_url("relative/dir"); }, ErrorKind::invalid_argument);
}

TEST(StorageSettingValues, EachCheckedOnItsOwn) {
  EXPECT_NO_THROW(validate_storage_setting("s3_region", "eu-west-1"));
  EXPECT_NO_THROW(validate_storage_setting("s3_part_size", "64MB"));
  EXPECT_NO_THROW(validate_storage_setting("s3_uri_style", "path"));
  EXPECT_NO_THROW(validate_storage_setting("s3_endpoint", "http://127.0.0.1:9000"));
  EXPECT_NO_THROW(validate_storage_setting("azure_endpoint", "http://127.0.0.1:10000/acct"));
  EXPECT_NO_THROW(validate_storage_setting("storage_verify_tls", "off"));
  EXPECT_NO_THROW(validate_storage_setting("storage_stall_timeout", "2min"));
  EXPECT_NO_THROW(validate_storage_setting("s3_parts_in_flight", ""));  // unset
  expect_error([] { validate_storage_setting("s3_part_size", "1MB"); }, ErrorKind::invalid_argument,
               "pgvault.s3_part_size: must be between 5MB and 5GB");
  expect_error([] { validate_storage_setting("s3_parts_in_flight", "0"); },
               ErrorKind::invalid_argument, "between 1 and 64");
  expect_error([] { validate_storage_setting("s3_uri_style", "virtual"); },
               ErrorKind::invalid_argument, "expected host or path");
  expect_error([] { validate_storage_setting("s3_endpoint", "http://h/path"); },
               ErrorKind::invalid_argument, "without a path");
  expect_error([] { validate_storage_setting("s3_endpoint", "ftp://h"); },
               ErrorKind::invalid_argument, "http://");
  expect_error([] { validate_storage_setting("storage_connect_timeout", "0"); },
               ErrorKind::invalid_argument, "greater than zero");
  expect_error([] { validate_storage_setting("s3_regoin", "x"); }, ErrorKind::invalid_argument,
               "did you mean pgvault.s3_region?");
  // A bad secret is reported without its value.
  std::string msg = error_text([] { validate_storage_setting("azure_key", "not base64!!"); });
  EXPECT_NE(msg.find("pgvault.azure_key"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not base64!!"), std::string::npos) << msg;
}

TEST(StorageSettingsNames, KnownListIsSortedAndComplete) {
  const auto& k = known_storage_settings();
  EXPECT_TRUE(std::is_sorted(k.begin(), k.end()));
  for (std::string n :
       {"s3_region", "s3_endpoint", "s3_uri_style", "s3_access_key_id", "s3_secret_access_key",
        "s3_session_token", "s3_part_size", "s3_parts_in_flight", "azure_account", "azure_key",
        "azure_sas_token", "azure_endpoint", "azure_block_size", "azure_blocks_in_flight",
        "storage_ca_file", "storage_verify_tls", "storage_connect_timeout"})
    EXPECT_NE(std::find(k.begin(), k.end(), n), k.end()) << n;
}

}  // namespace
