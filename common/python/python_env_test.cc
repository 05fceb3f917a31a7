#include "common/python/python_env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace dn {
namespace {

namespace fs = std::filesystem;

// The fake environment FindPythonExecutable reads through its GetEnvFn.
std::map<std::string, std::string>* g_env = nullptr;
const char* FakeGetEnv(const char* name) {
  auto it = g_env->find(name);
  return it == g_env->end() ? nullptr : it->second.c_str();
}

class PythonEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("dn-python-env-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    g_env = &env_;
  }
  void TearDown() override {
    g_env = nullptr;
    fs::remove_all(root_);
  }
  // An executable file at root_/rel.
  std::string Exe(const std::string& rel) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "#!/bin/sh\n";
    ::chmod(p.c_str(), 0755);
    return p.string();
  }
  Result<std::string> Find(std::string_view flag = "", std::string_view self_dir = "") {
    return FindPythonExecutable(flag, self_dir, &FakeGetEnv);
  }

  fs::path root_;
  std::map<std::string, std::string> env_;
};

TEST_F(PythonEnvTest, OrderIsFlagVariableActiveEnvBesideBinaryThenPath) {
  std::string flag = Exe("flag/python");
  std::string var = Exe("var/python");
  std::string venv = Exe("venv/bin/python");
  std::string conda = Exe("conda/bin/python");
  std::string beside = Exe("prefix/bin/python3");
  std::string on_path = Exe("path2/python3");
  env_ = {{"DN_PYTHON", var},
          {"VIRTUAL_ENV", (root_ / "venv").string()},
          {"CONDA_PREFIX", (root_ / "conda").string()},
          {"PATH", (root_ / "path1").string() + ":" + (root_ / "path2").string()}};
  std::string self = (root_ / "prefix/bin").string();

  EXPECT_EQ(*Find(flag, self), flag);
  EXPECT_EQ(*Find("", self), var);
  env_.erase("DN_PYTHON");
  EXPECT_EQ(*Find("", self), venv);
  env_.erase("VIRTUAL_ENV");
  EXPECT_EQ(*Find("", self), conda);
  env_.erase("CONDA_PREFIX");
  EXPECT_EQ(*Find("", self), beside);
  EXPECT_EQ(*Find("", ""), on_path);
  env_.erase("PATH");
  Result<std::string> none = Find("", "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("--python or DN_PYTHON"), std::string::npos);
}

TEST_F(PythonEnvTest, AnExplicitChoiceThatDoesNotExistIsAnErrorNotAFallback) {
  env_ = {{"PATH", fs::path(Exe("bin/python3")).parent_path().string()}};
  Result<std::string> r = Find((root_ / "nope/python").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--python names"), std::string::npos);
  env_["DN_PYTHON"] = (root_ / "nope/python").string();
  r = Find();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("DN_PYTHON names"), std::string::npos);
}

TEST_F(PythonEnvTest, VersionFromPyvenvCfgOrTheInterpreterName) {
  std::string venv_python = Exe("venv/bin/python");
  std::ofstream(root_ / "venv/pyvenv.cfg") << "home = /usr/bin\nversion = 3.12.1\n";
  Status st = CheckPythonVersion(venv_python, 3, 11);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("embeds Python 3.11"), std::string::npos);
  EXPECT_NE(st.message().find("is Python 3.12"), std::string::npos);
  EXPECT_TRUE(CheckPythonVersion(venv_python, 3, 12).ok());

  std::string real = Exe("usr/bin/python3.10");
  fs::create_symlink(real, root_ / "usr/bin/python3");
  EXPECT_FALSE(CheckPythonVersion((root_ / "usr/bin/python3").string(), 3, 11).ok());
  EXPECT_TRUE(CheckPythonVersion((root_ / "usr/bin/python3").string(), 3, 10).ok());
  // Nothing tells the version: not refused here (the requirement check still runs).
  EXPECT_TRUE(CheckPythonVersion(Exe("other/py"), 3, 11).ok());
}

TEST(PythonRequirementsTest, TheBuildPinsDaskDistributedNumpyAndItself) {
  std::vector<PythonRequirement> reqs = BuildPythonRequirements();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].name, "dask");
  EXPECT_EQ(reqs[1].name, "distributed");
  EXPECT_EQ(reqs[2].name, "numpy");
  EXPECT_EQ(reqs[3].name, "dask_native");
  for (const auto& r : reqs) EXPECT_FALSE(r.version.empty()) << r.name;
}

TEST(PythonRequirementsTest, CheckSourceQuotesWhatItEmbeds) {
  std::string src = RequirementCheckSource("/x/it's/python", {{"numpy", "2.4.6"}});
  EXPECT_NE(src.find(R"('/x/it\'s/python')"), std::string::npos);
  EXPECT_NE(src.find("('numpy', '2.4.6')"), std::string::npos);
}

}  // namespace
}  // namespace dn
