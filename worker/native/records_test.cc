#include "worker/native/records.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/serialize/ndarray_serializer.h"

namespace dn::native {
namespace {

// `pickle.dumps(np.dtype([("vals", <t>), ("arg", "<i8")]), protocol)` from numpy 2.4.6.
struct PickledDtype {
  DType vals;
  int protocol;
  const char* hex;
};

// clang-format off
const PickledDtype kPickledDtypes[] = {
    {DType::kFloat64, 5, "80059599000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b088694754b104b014b107494622e"},
    {DType::kFloat64, 4, "80049599000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b088694754b104b014b107494622e"},
    {DType::kFloat32, 5, "80059599000000000000008c056e756d7079948c0564747970659493948c0356313294898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b048694754b0c4b014b107494622e"},
    {DType::kInt64, 5, "80059577000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b0086946808680d4b088694754b104b014b107494622e"},
    {DType::kInt32, 5, "80059599000000000000008c056e756d7079948c0564747970659493948c0356313294898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02693494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b048694754b0c4b014b107494622e"},
    {DType::kUInt32, 5, "80059599000000000000008c056e756d7079948c0564747970659493948c0356313294898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02753494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b048694754b0c4b014b107494622e"},
    {DType::kBool, 5, "80059598000000000000008c056e756d7079948c0564747970659493948c02563994898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02623194898887945294284b0368064e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b018694754b094b014b107494622e"},
};
// np.dtype([("a", "<f4"), ("b", "<f4"), ("c", "|b1")]): one-character names and a
// shared float32 field dtype.
const char* kAbcDtype = "8005959f000000000000008c056e756d7079948c0564747970659493948c02563994898887945294284b038c017c944e8c0161948c0162948c01639487947d9428680768028c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b0086946808680e4b048694680968028c02623194898887945294284b0368064e4e4e4affffffff4affffffff4b007494624b088694754b094b014b107494622e";
// Dtypes left to Python: align=True (padding, alignment 8), a big-endian field, a title.
const char* kUnhandled[] = {
    "80059599000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b088694754b104b084b907494622e",
    "8005959b000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663894898887945294284b038c013e944e4e4e4affffffff4affffffff4b007494624b008694680868028c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b088694754b104b014b107494622e",
    "800595a1000000000000008c056e756d7079948c0564747970659493948c0356313694898887945294284b038c017c944e8c0476616c73948c036172679486947d9428680768028c02663894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b008c017494879468106811680868028c02693894898887945294284b03680e4e4e4e4affffffff4affffffff4b007494624b088694754b104b014b107494622e",
};
// a = np.empty((2, 3), [("vals", "<f4"), ("arg", "<i8")]); a["vals"] = 1.5 * arange;
// a["arg"] = 100 * arange - 7: a.tobytes().
const char* kPackedF4I8 = "00000000f9ffffffffffffff0000c03f5d0000000000000000004040c1000000000000000000904025010000000000000000c04089010000000000000000f040ed01000000000000";
// clang-format on

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(RecordsTest, DtypePickleIsNumpysByteForByte) {
  for (const PickledDtype& c : kPickledDtypes) {
    std::vector<RecordField> fields{{"vals", c.vals}, {"arg", DType::kInt64}};
    EXPECT_EQ(Hex(PickleRecordsDtype(fields, c.protocol)), c.hex)
        << DTypeStr(c.vals) << " protocol " << c.protocol;
    Result<std::vector<RecordField>> parsed = ParseRecordsDtype(Buffer::FromString(Unhex(c.hex)));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    ASSERT_EQ(parsed->size(), 2u);
    EXPECT_EQ((*parsed)[0].name, "vals");
    EXPECT_EQ((*parsed)[0].dtype, c.vals);
    EXPECT_EQ((*parsed)[1].name, "arg");
    EXPECT_EQ((*parsed)[1].dtype, DType::kInt64);
  }
  std::vector<RecordField> abc{{"a", DType::kFloat32}, {"b", DType::kFloat32}, {"c", DType::kBool}};
  EXPECT_EQ(Hex(PickleRecordsDtype(abc, 5)), kAbcDtype);
  EXPECT_EQ(RecordsDescr(abc), "[('a', '<f4'), ('b', '<f4'), ('c', '|b1')]");
}

TEST(RecordsTest, OtherStructuredDtypesAreLeftToPython) {
  for (const char* hex : kUnhandled) {
    EXPECT_EQ(ParseRecordsDtype(Buffer::FromString(Unhex(hex))).status().code(),
              StatusCode::kNotImplemented);
  }
}

NativeValue F4I8() {
  uint8_t* v = nullptr;
  uint8_t* a = nullptr;
  NdArray vals = NdArray::Allocate(DType::kFloat32, {2, 3}, &v);
  NdArray arg = NdArray::Allocate(DType::kInt64, {2, 3}, &a);
  for (int i = 0; i < 6; ++i) {
    reinterpret_cast<float*>(v)[i] = 1.5f * static_cast<float>(i);
    reinterpret_cast<int64_t*>(a)[i] = 100 * i - 7;
  }
  return MakeRecords({{"vals", vals}, {"arg", arg}}).ValueOrDie();
}

TEST(RecordsTest, PackedRecordsAreNumpysLayout) {
  NativeValue v = F4I8();
  EXPECT_TRUE(v.records);
  EXPECT_FALSE(v.is_dict());
  EXPECT_EQ(v.Sizeof(), 6 * 12);  // nbytes of the structured array
  Buffer packed = PackRecords(v);
  EXPECT_EQ(Hex(packed.view()), kPackedF4I8);
  EXPECT_EQ(RecordsDescr(RecordFields(v)), "[('vals', '<f4'), ('arg', '<i8')]");
}

void ExpectSameRecords(const NativeValue& a, const NativeValue& b) {
  ASSERT_EQ(a.fields.size(), b.fields.size());
  for (size_t i = 0; i < a.fields.size(); ++i) {
    EXPECT_EQ(a.fields[i].first, b.fields[i].first);
    EXPECT_EQ(a.fields[i].second.dtype, b.fields[i].second.dtype);
    EXPECT_EQ(a.fields[i].second.shape, b.fields[i].second.shape);
    NdArray x = AsCContiguous(a.fields[i].second), y = AsCContiguous(b.fields[i].second);
    EXPECT_EQ(0, std::memcmp(x.data.data(), y.data.data(), static_cast<size_t>(x.nbytes())));
  }
}

TEST(RecordsTest, WireFormRoundTrips) {
  NativeValue v = F4I8();
  Result<Serialized> s = SerializeRecords(v);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Result<NdarrayView> view = DeserializeNdarray(*s);
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->meta.dtype_pickle.has_value());
  EXPECT_EQ(Hex(view->meta.dtype_pickle->view()), kPickledDtypes[2].hex);
  EXPECT_EQ(view->meta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(view->meta.strides, (std::vector<int64_t>{36, 12}));
  EXPECT_TRUE(view->meta.writeable);
  std::optional<NativeValue> back = RecordsFrom(*s);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->records);
  ExpectSameRecords(v, *back);
}

TEST(RecordsTest, FortranOrderedRecordsFromPeersAreUnpacked) {
  // What a stock worker sends for an F-ordered (2, 3) structured array: its own strides.
  NativeValue v = F4I8();
  std::string f_order;
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 2; ++i) {
      const int k = i * 3 + j;
      f_order.append(reinterpret_cast<const char*>(v.fields[0].second.data.data()) + 4 * k, 4);
      f_order.append(reinterpret_cast<const char*>(v.fields[1].second.data.data()) + 8 * k, 8);
    }
  }
  NdarrayMeta meta;
  meta.dtype_pickle = Buffer::FromString(PickleRecordsDtype(RecordFields(v), 4));
  meta.shape = {2, 3};
  meta.strides = {12, 24};
  Result<Serialized> s = SerializeNdarray(meta, Buffer::FromString(f_order));
  ASSERT_TRUE(s.ok());
  std::optional<NativeValue> back = RecordsFrom(*s);
  ASSERT_TRUE(back.has_value());
  ExpectSameRecords(v, *back);
  // Data shorter than the strides need is not taken.
  Result<Serialized> short_frame =
      SerializeNdarray(meta, Buffer::FromString(f_order.substr(0, 60)));
  ASSERT_TRUE(short_frame.ok());
  EXPECT_FALSE(RecordsFrom(*short_frame).has_value());
}

TEST(RecordsTest, PlainArraysAreNotRecords) {
  NdarrayMeta meta;
  meta.dtype = "<f8";
  meta.shape = {2};
  meta.strides = {8};
  Result<Serialized> s = SerializeNdarray(meta, Buffer::FromString(std::string(16, '\0')));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(RecordsFrom(*s).has_value());
}

}  // namespace
}  // namespace dn::native
