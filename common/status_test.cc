#include "common/status.h"

#include <gtest/gtest.h>

#include "common/buffer.h"
#include "common/result.h"

namespace dn {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::Invalid("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  DN_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, OkHasNoMessage) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.ToString(), "OK");
  EXPECT_EQ(st.message(), "");
}

TEST(StatusTest, ErrorCarriesCodeAndContext) {
  Status st = Status::ProtocolError("bad frame").WithContext("conn 3");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kProtocolError);
  EXPECT_EQ(st.ToString(), "ProtocolError: conn 3: bad frame");
  Status copy = st;
  EXPECT_EQ(copy.ToString(), st.ToString());
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_EQ(Quarter(5).status().code(), StatusCode::kInvalid);
}

TEST(BufferTest, SliceSharesOwner) {
  Buffer b = Buffer::CopyFrom("hello world");
  Buffer s = b.Slice(6, 5);
  EXPECT_EQ(s.view(), "world");
  EXPECT_EQ(s.owner(), b.owner());
  EXPECT_TRUE(Buffer::FromString("world").Equals(s));
}

}  // namespace
}  // namespace dn
