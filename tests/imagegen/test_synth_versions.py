"""Both data versions draw, byte for byte, what they drew before v1 and v2 became one code path (issue #26).

The digests below are the sha256 of every file ``generate_dataset`` wrote (stock images, photos, masks, manifest,
items.jsonl, contact sheet) for the parameters in ``CASES``, recorded with the separate v1 and v2 modules just before
they were folded together. A mismatch means a change to the drawing, its random draws or their order: the shipped
generator was trained on v1 and the v2 run on v2, so such a change must be deliberate (and the digests re-recorded).
They also depend on numpy, Pillow and OpenCV drawing the same pixels, so a library upgrade may need a re-record too.

Seed 9 with 12 v1 items and 18 v2 items covers every cut of each version (dresses, jumpsuits and skirts included),
every background kind and both photo treatments, and a held-out combination; 96 px keeps the module to a few seconds.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imagegen.offline.synth import generate_dataset

# data version -> (items, photos per item, seed, image size, held-out combination fraction)
CASES = {1: (12, 2, 9, 96, 0.25), 2: (18, 2, 9, 96, 0.25)}

DIGESTS_V1 = {
    "contact_sheet.png": "400cdd98b4b1496c966730d307a3bcdd2bff565717c3fdfdc88f004339946619",
    "items.jsonl": "08a6a7d5c175c7cfc8b6971524eaa879e24bb6a411c61fd9fa908f4a79f7d4f9",
    "manifest.jsonl": "d56dc4f13319e605decd321976dfef6d1527132a6f74608914840d1236911d90",
    "masks/000000_0.png": "cb1ba929fc14391015941fe7db4c4854b8958ff05f503473fc53799a4da0c75d",
    "masks/000000_1.png": "4785ca0fab75e731fb7b57960e35e3d556c35a66c3c39f4c5c053b40ceb06d1f",
    "masks/000001_0.png": "87dd366fccfa9e546c5f77318ecc533db5dc226272832f25b8c7d1a03efcccc2",
    "masks/000001_1.png": "31ba44795d49a7a43e02d4eb1464e33e5ed1bb773439b737e5c27758eee3c8db",
    "masks/000002_0.png": "63833bd6ee3c27d1c0d57046d0fd68e58382711c2eeb479c5201d137ab610bdf",
    "masks/000002_1.png": "8c1f287281be803494877a8d07c8279b1fe771be99aa63a286ce0d2d1ba49150",
    "masks/000003_0.png": "81c66eb118c6c4dcf29bdbb51d9f4ce1bbecdec981984771c24093c4b3e8278c",
    "masks/000003_1.png": "1a1f2d3139f76c045bc1d9a049c5b26936d05afe2e595f51b314efddaae867fc",
    "masks/000004_0.png": "562daf840be980aa9d82c960e5981d2cdc8017981e4f384fbbb063e2017d4343",
    "masks/000004_1.png": "2f32bf1ba5bc520bf3590d82e8eba82a6362a887ed0b99f34b21222c5b8533a3",
    "masks/000005_0.png": "060a3b1bb9c91b4c1ab8d47d6dd694aa348bbd6a82a5828191e6072701f11525",
    "masks/000005_1.png": "b29456f580f5d31bc84b882e2ee04ff1d1d6c6f2d13e414ec1c95750138148f5",
    "masks/000006_0.png": "ff4105b4f2a3ad72b13e33c4d647645e1b7eff2c6cb339c8347de79ccf023645",
    "masks/000006_1.png": "561d4c205759d300db3c1666bfdf1379401f2a272745c19126942f35cf634109",
    "masks/000007_0.png": "5d66ff1b9cb63340ec6adce2b5bb3393bac46de33e03b070c47ca8722cf06ca8",
    "masks/000007_1.png": "ed7db08259f6c126d19deee935177c7840822cb19b39585c6f124840562bf14c",
    "masks/000008_0.png": "ee8ba45bdf17b5ba39d2e1fd9c5e13b4ac2ad2d83685722137f9c5414ad447d7",
    "masks/000008_1.png": "2fe21fe64dd438c0b2c4d9057bda7a443f5150abd5754942ce0a4effc322b68e",
    "masks/000009_0.png": "506d1e53f65e62d002f12321817fd76c8230282577c3cc4cec823ac3560520dc",
    "masks/000009_1.png": "4a59415629e8cfa96ca860ea59354f4e8349fb56f48449b27adf47292f32737f",
    "masks/000010_0.png": "7a45edcdc9188a42bebc55ce21e54af9071aaf82551f06b5fa4b00a1d75450a7",
    "masks/000010_1.png": "ac14f3eaeb00af33b6f273bc11a326356fff159bc7de99c5dd2ac524aa8a0055",
    "masks/000011_0.png": "ca41b1cca5e399a25b5b0cdf6601f63fc1f01255aba9e96cf1db143d6ca6ca9a",
    "masks/000011_1.png": "e97bd3f4710f36f8e307b498bf10283d57f21dd96f3effd054a19cf5d2bc5445",
    "photos/000000_0.jpg": "8961daa9532f2555b2cbb945b5fe026d7056f9ffbcd8070d875f0180cabf556c",
    "photos/000000_1.jpg": "dcd91fb5bd5c50b14a5b35a73519a526c8fc0247f54174db1321fff7da97e4f8",
    "photos/000001_0.jpg": "6bd5654a3bafadf99b9ab97656ef736c2f5e995435c57c04cb20b4ed3db85943",
    "photos/000001_1.jpg": "116f200641e404eeaffe1a4ce6a185b473f27c9f402091e252f4681536e486ea",
    "photos/000002_0.jpg": "81f9482e798d13d969879248c6cecc52c99572af8af78a53ff78b23faf780d7a",
    "photos/000002_1.jpg": "8e4ad15ed87c7854dec6aa4156d4c064f1b46d2abf4e0cdc44088606662db70e",
    "photos/000003_0.jpg": "b87bc49c7d6ddde8b3986cfeac104d5211c89f91865e9fa8fd82864c5b079c30",
    "photos/000003_1.jpg": "57a34d9538d4d720adb326e7f88dac7b9a072f895752a303c1d3861e8dc54686",
    "photos/000004_0.jpg": "083829879e2a8e09f19adfc10a7f9b7b0c4113c12966157cd3e5a5e6ccb565b2",
    "photos/000004_1.jpg": "51ea3e821baebf846946f7374da0c0a22803e0af726b95372e604dc2610fa3fb",
    "photos/000005_0.jpg": "c8db26692e197cb5c60453393e8b78eecc315f4304b5150a1832b68d58c5e6bc",
    "photos/000005_1.jpg": "5c2fd2605896b3cc81ddf5a72f13069b618b6f713db6a452ff8fd660822f250f",
    "photos/000006_0.jpg": "5a1e51f6dab36c91afac50dd3b459c693641cd4ee16e912a0db8fe25a0f26f32",
    "photos/000006_1.jpg": "8079e9bc033d56021dcaf88675791c2cb50bd9efda162f4792ac877a169dfbc3",
    "photos/000007_0.jpg": "d0e4f434285740ffc9f86bc868eb6129066c3520f98b5df3739a9519650c1f3d",
    "photos/000007_1.jpg": "b37aaa7e9fc4a92b47f2a237d78c98eaaa1d49be96bb98eb82495b91e53d7b05",
    "photos/000008_0.jpg": "38e3b4a6ac2256d5b61fa8f621dcdb6a4963bbdf73abe51add63703a9aa8f687",
    "photos/000008_1.jpg": "3574b7927904e4f48fa604d0086ae91804ffcc836d281ce25edc244bd76a0f3f",
    "photos/000009_0.jpg": "94b627ab4d0da8ba662ce2df5a25f81afee1438d610779c0f07f434aba549d8d",
    "photos/000009_1.jpg": "49810618cc30496a9a80e3d99b2f773172421fbc80bea8f2f6466d59781d0b28",
    "photos/000010_0.jpg": "92e00c2549a3ab9cba8f53695999819f17989d8ce05e1b1aae3d35035230001e",
    "photos/000010_1.jpg": "7a593c141ac36b0cc3cbbc0a185a6cba7262a9aeb495631b531a3a905d7d567e",
    "photos/000011_0.jpg": "7eb5e639607ea781620bfc4ceab80e559f93bd609efd3fe3573c6743207d00f9",
    "photos/000011_1.jpg": "a2acba1d6d8c603f7b3ac03f8023cbeadd00045e6c3155bd4f3677a58f0caf9d",
    "stock/000000.png": "a18714cdb839acf03998b5246133ecb6baf9de41baee26a479be6877b813cf39",
    "stock/000001.png": "43a4a4e5ee5fd765394fe6192cd7ce83a1ff8b785eb6992e09f622259815152f",
    "stock/000002.png": "a2c2fd7ecb24b0c75306942948de0e92800ac65bee72c9dafea39cc10efedd00",
    "stock/000003.png": "3ad3265d13db3187aed45804a14bf65a321759d3b79ab8720b6a657eac6dfb64",
    "stock/000004.png": "75853324980766bd27ce24528bcabd3d1b1df6a9d4556c0c92e519eacab3cb4e",
    "stock/000005.png": "99f218ee059c08b6d6c93e01e9b2aee8b98021e72ade92cc7a9f31631c3e022b",
    "stock/000006.png": "2e8ed44ec13a14dd437821a03d5d97e53565a06d52f423269b313ef75c3413b6",
    "stock/000007.png": "f42aa8e2c6ad8eb3960eb7d29b1f8794feebb44d2c7aa024c95f9e5a88d88ecf",
    "stock/000008.png": "fa5fb85c284b1abf0f7b85b8b2dcabd82c333294d9a283e2210a1f7aed23b13b",
    "stock/000009.png": "09d93d28c3d72ec0f3667efe5eaac1527d1145f6e5d0d21c4603263c8a3abae7",
    "stock/000010.png": "f70d1a306606e6288a0198eb15a8816396bef1a3e183361610a726de2b1612bf",
    "stock/000011.png": "f0f049f951f68cfad296b6b3bb00b9abc36f4aa940e5cf664dcb175e4f163719",
}

DIGESTS_V2 = {
    "contact_sheet.png": "3e54396226a040b877273834b8c4f4e6f961ab8734a14a0b78672aae3573a648",
    "items.jsonl": "a364040f8338a00eba5238f59132d90e710d51570cef4497c769593271db1fec",
    "manifest.jsonl": "e62e351707fa7a8bcc9ac293e3b9830dae451fd8d08de66ad112f100d0464da5",
    "masks/000000_0.png": "18fbbb829b470382762040970d3a772acb0c8c36b27b1ee7108965ae21e017c4",
    "masks/000000_1.png": "9c2eded3c1379ad505f2b21d659325d066950a7e86f25f6290eb70a4d7e9a592",
    "masks/000001_0.png": "e4b77ebf1defdb52b4d54c4d0d80bc90a99b672e59dfafd632016e7429e4fd01",
    "masks/000001_1.png": "7b8ec58dc71dcdc24397e2aacb7e48407689cccb172f8518f86143d49ca9c7a1",
    "masks/000002_0.png": "140692b26a2a041b2bf1c1772aacf69b4e816eb6fc8d4755a261d8f9a6487e0a",
    "masks/000002_1.png": "59cd7ce94bcf57f440e0ae054301b8da57f50a20e388a0b737c57bc544553c6c",
    "masks/000003_0.png": "d6cd0b0afef1009684a4fe21f555baebe645e4bd3542b4ed0f6ac844b2de586d",
    "masks/000003_1.png": "24eaa7c997c1607fef0d3194e28c56570de33ae8df5e1fa06c8b439aab9ef219",
    "masks/000004_0.png": "43c02f3cb3c32ac1c5fa97abf8c8f0cee6c8944ebcfec98f28f7bc7f91adddd3",
    "masks/000004_1.png": "26837168c180ff264f410f7533dc7821e4fb26443b3d2674c64dad71d4355a3d",
    "masks/000005_0.png": "8996b744839f2725945fb98eb0fd015b9b65b489df7bd9294d788dc1287e7deb",
    "masks/000005_1.png": "72ef5abe8c4df5355c04f00ac0c98d620944e32e0731065795146c837c9e0865",
    "masks/000006_0.png": "dd8f257d519ba1b6d4db03dc708ef7aa31d60a57be16346b3d3e0f99e406c747",
    "masks/000006_1.png": "b40c4622837172b831e90ff3f4f6c573e528d1b67e1e806172e71b2bf71e1f5f",
    "masks/000007_0.png": "7b8bb4ee944ae6f56be2695c777dfa42a2e093527c8f973e9acec35ab731f21a",
    "masks/000007_1.png": "2b9f97d8bd223e9bc1c49826d155d8c98e128088f2a5ff200cdb28b362331ed5",
    "masks/000008_0.png": "60d8b5081b83abc8eba9fe75f48587631fd43123b01b897ec3c850c635fb9076",
    "masks/000008_1.png": "068b843066d102d86bda85c0ad5ad68a18652f33fc2c200dbf3c62b4646f395f",
    "masks/000009_0.png": "d1c0add744fe9bc145014090a7e5a044398fc49ed2f7a3b608f22a340549cea2",
    "masks/000009_1.png": "d3eea35ab3f53c6f82009ec5e2959e9f8a12fab2a8b8151c521f51b1bb55c6ec",
    "masks/000010_0.png": "aeff6423a26b3e8247a7e11c679d8fbc5e1f6a3abc49fd9a5c37865a1ba890b8",
    "masks/000010_1.png": "0f7d6641b017a614e8921df109ad80aa40fc95db70b6c005fdc640c380f79fc1",
    "masks/000011_0.png": "6b458ebce5756939bda82b8942c4908c23fd4b9f7e5c198d53579f1fd12e49ce",
    "masks/000011_1.png": "93b1b0d786d9765acc71ca4fe840aab4dc82723e25eda866d3a8ab395612bd80",
    "masks/000012_0.png": "6094dcbc96f60373dba476efc314c8142527358012fd542e5f2a99517e840b9e",
    "masks/000012_1.png": "9f9a85eb07a39e2e3eda8f7eddff079a497d25c39c4c84a70d6eab3f40594aab",
    "masks/000013_0.png": "8cdbcf90618a8932ba3e169bf9be5b38cda8941c3bbe26b72021c4ee8d3dac5d",
    "masks/000013_1.png": "f9f77da110d402d6fca3ed8954e836e223a28d3687953c796e55fd40aeb132a3",
    "masks/000014_0.png": "aa36b423e02f05d85de2d860698bcadf21dcce3b4a5ea7908660e1d5b75fe48f",
    "masks/000014_1.png": "3cab537835cdfcd19274d343a0c8952200225d5e1c26a07d8380d2d57e7c95d1",
    "masks/000015_0.png": "2c1f5bf891b84ead1083b067c9bccc8030954f700a388e34bfbfe3ad3efba6fe",
    "masks/000015_1.png": "f267e1afe25fba6d3aaa90fe1259d5cee5457229bfa22a6e91129c739c922de5",
    "masks/000016_0.png": "a56a9c9b4907f79665ebbbc38ccb0b0ce69ef2588f41c76b0cbc79c027d2f9e5",
    "masks/000016_1.png": "6b0f67fdaf8a9c2a6ef61e2fc29881812ab3877ea0c49b63306f069637d6e7c9",
    "masks/000017_0.png": "e3bd9e98b8763eb9969b923d4b965aef9ffc42d31c2f9f276e9eb5071ae5f742",
    "masks/000017_1.png": "4d4f2779a60c7da1a295ab78337440dcc4053d4c6afbda1ff1ce7e3ae346d6f5",
    "photos/000000_0.jpg": "c13a2e8480c6e750cff11c7d58e05acee7d3eb5a32d8280b30fc57fd6cc9b6d2",
    "photos/000000_1.jpg": "f14ce009f8d55ef838f883111e09cbbf6754bffaa0385fd40015e913c9ae9d15",
    "photos/000001_0.jpg": "42e6d0875df02fa66fbc5942f021c8ada27500ebb398296fa85ab8f4d328239f",
    "photos/000001_1.jpg": "8eee35554d9164ab56544d91e780a7f91754d3da6454788f46bfe26f2430ac40",
    "photos/000002_0.jpg": "e2ea64fa83b97cbf086d3264b0e2fc006dc1aae30be3e5c4e344f6b13f3a8c37",
    "photos/000002_1.jpg": "d12a510f30c4c9438751b1231963446820c928d623f306166e1f7fcd921dab29",
    "photos/000003_0.jpg": "3638d71ff100e3ebecd81c6999e784519c3ff969a23b763004174f6d8b072ed9",
    "photos/000003_1.jpg": "7c181074afe0d31b5d5f9364f193f11b65c0896ea886f7268a88a7e48e1e4da8",
    "photos/000004_0.jpg": "c0f0b214fb0dde1eccbe8c939bea1a15e708b91652541fe56e63b7a1f5ba3058",
    "photos/000004_1.jpg": "6a741abc8739254f17ab9ac4c266ee991e27d0b5760f969bce89b1dee839e4ec",
    "photos/000005_0.jpg": "2133ec3d6c7b4481733107a33d4610d3399f6bf41a1f15770c211c3781ec99ee",
    "photos/000005_1.jpg": "243fbc5dab57c3688e10a2a85804d1a7e61879314bba58adc252c4b89f77307e",
    "photos/000006_0.jpg": "df9ce9fbb35766d3e77d245b406f989e7bb82739e0166078be1d2e3811d5ead5",
    "photos/000006_1.jpg": "036af80fd96be9aa2ba3c5fee09333ebef9412e454bb86b21820c3fe93eef3ba",
    "photos/000007_0.jpg": "d8fa17076178d7a155bb04f2178485f71604b012ccafd5c7c008e4c47b486fe8",
    "photos/000007_1.jpg": "7e08c8ebbd78e5b13e8647371664425af0a4ec465f2313b42dc949990b834d06",
    "photos/000008_0.jpg": "6a6216104c266ada7e067cd8b217655dc345445f73ec7d5f42a0aabf95456d7a",
    "photos/000008_1.jpg": "1837df8a4e4f96862c82e214c30c7bc6d00ffa4a9bd99d79149fa46c878e2de7",
    "photos/000009_0.jpg": "3cadd85cc90903cf7fdfc618cc91422e2d297aace935856f2a85a6115d650863",
    "photos/000009_1.jpg": "5284bbf09eb628918e49a7e510503dc08f4dd89e7846c1c4db7c52932588bb2d",
    "photos/000010_0.jpg": "da175bc34bcc14a1f06e50c9f43c21c1dfa7aeb11873b23b274dcffe33589302",
    "photos/000010_1.jpg": "64ecd2b54dc70a438a26c626cd78a93cadaded46a5242ab48e25da375062ae1c",
    "photos/000011_0.jpg": "a932c19eb6416ae0e20a4ac1bc7f1d8bd98087f7e5bd9b347b61ca6b1c7ce6c9",
    "photos/000011_1.jpg": "df57cf50f6fca66bcdb8b6dc6db9b89397307404853b9dc7938bab59d32667b5",
    "photos/000012_0.jpg": "bcd75f5f66f732f47bc0c00eb8ef49f79c560824b6c6d58a84cf86c1d7004a6f",
    "photos/000012_1.jpg": "04860921fc43c73b75311ff328f51774bb6e2db42d1591530c7ffba4b4a84921",
    "photos/000013_0.jpg": "259091aef1fd428dca7144f2164e04fbbd56b57d72b3a20ca3f2472a9d49393e",
    "photos/000013_1.jpg": "9ed36959dbe522117da013a85a7f1f6e31f9e2f8918c0f489f566d68d1ec7334",
    "photos/000014_0.jpg": "c9461eb2a5a511f6b888ab9d1c4c4954379edc69b9b79585d1ffd7c48dcb3576",
    "photos/000014_1.jpg": "ec82e281c044d681b328bac21687d22efee97102e3e7cb813d2c116999b54947",
    "photos/000015_0.jpg": "231b1613ff23f7a19f9726fbda4c837b675ebcbd8841ca2632278bb535bcf5bc",
    "photos/000015_1.jpg": "ac70b12f7691adda434d0b9b9221429db202b6303779dd4bedb969c1c8fc1297",
    "photos/000016_0.jpg": "d0a4aee6aaccb8ebefc9b56d2b41dc491ade2e19fc429f9fb1593e4f8dc6f0bf",
    "photos/000016_1.jpg": "013540afb6e9cfaf8e16e9ee062a8124557e12f8c24715354474d2a5e14adf5e",
    "photos/000017_0.jpg": "446ebd6385b5661f85f118c930183adeaa93ea238351b69d332eac6cf66f5223",
    "photos/000017_1.jpg": "ffb543e86f582e7dfd80472c5bcfb66b18237904c1e93a9b02fa64676f26f3c3",
    "stock/000000.png": "7b2a59d8bf70ee266c92b7fa3453c46e57161cc823f5ab1aafe5f028176cbcf7",
    "stock/000001.png": "0961fe942280853f12d612bed7710d902b5af21f3ecd585434c8e0c4dc0ad5f7",
    "stock/000002.png": "372fafa4aad4455271af3dd1a45eccc63441791777d54b12204901437321332d",
    "stock/000003.png": "c44a5c2cfc7bfce04587165e43de50fc65da762137229b1dc1f6adb416cedaf4",
    "stock/000004.png": "e3e151c4ee02d2cf00985c56960db66259617e49fc16cbefcb9ff52d8a818461",
    "stock/000005.png": "78d583930ba4f17e637c492ef012bf0716fe6a2bb6b23af011bfc0a5ab5fd965",
    "stock/000006.png": "20094e27a38bf9e6bdf37673a0699c3b510f90c96c01aeccd2130a9510c0d51f",
    "stock/000007.png": "dae0a13d3b7793b71b5eb10043b947422d6020f6bc012cf92043b66677d73d68",
    "stock/000008.png": "14e755543eb2e6e2a1ec217a4b9f1a866f655885df159151918ad8d2e56d3f1e",
    "stock/000009.png": "dd66d773dadf5723340cbfa8af026d3b331ca287e63e7e7eadc35f71f1799be8",
    "stock/000010.png": "d02622e1899b736d81124eaea6aaf504e471b9fb3dffff90161b4c7367e14838",
    "stock/000011.png": "2e9c05158de2617036bfde4b6da4c21e5272d1fb3698e11fda46b76258eeaf42",
    "stock/000012.png": "84fbf48afee1fb424462077ae21d8d797117325cd4fcb9d8969991e93d683e7e",
    "stock/000013.png": "35fe308b14480470a82c841bfd9d598b42e7375fa8db1a7bdde8bb22cf4a49ae",
    "stock/000014.png": "84be96cff6189b9a96623b5cd07bbc44210c602b98c8d9e82abd4ab38236ce03",
    "stock/000015.png": "134f229bd8c78b44dccb7fe73b7c9fbfacfdb3fbf532c0820058f47e2ca9f728",
    "stock/000016.png": "46b435a740d8d0014ed3f6155791eec282c55f8d2190c5aa01d14bf254ce3a85",
    "stock/000017.png": "12f7bf52e5359ba31fb1cbed4dfe2a20bbe8f2d5e68d0175a1cbb426479442a4",
}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("data_version, expected", [(1, DIGESTS_V1), (2, DIGESTS_V2)], ids=["v1", "v2"])
def test_dataset_is_byte_identical_to_the_recorded_one(tmp_path, data_version, expected):
    items, photos_per_item, seed, size, holdout = CASES[data_version]
    generate_dataset(tmp_path, items=items, photos_per_item=photos_per_item, seed=seed, workers=1, image_size=size,
                     progress=False, holdout_combinations=holdout, data_version=data_version)
    got = _digests(tmp_path)
    assert sorted(got) == sorted(expected)
    changed = [name for name in expected if got[name] != expected[name]]
    assert not changed, f"{len(changed)} of {len(expected)} files differ: {changed[:10]}"
