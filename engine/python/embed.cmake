# embed.cmake — write the bytes of IN as a NUL-terminated C array named
# NAME into OUT (cmake -DIN=… -DOUT=… -DNAME=… -P embed.cmake). Runs at
# build time, so the generated header lives only in the build tree.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" hex "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\nstatic const char ${NAME}[] = {\n${hex}0x00};\n")
