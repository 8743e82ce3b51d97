# Turns the migration files of a schema folder into a C source file, so the
# binary carries its DDL and applies it at start without finding files.
#   cmake -DSQL_DIR=<folder> -DOUT=<file.c> -DSYMBOL=<array name> -P embed_sql.cmake
# Files are named NNNN_name.sql; they are applied in the order of NNNN.
file(GLOB sql_files "${SQL_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "")
foreach(path ${sql_files})
    get_filename_component(file ${path} NAME_WE)
    string(SUBSTRING ${file} 0 4 version)
    string(SUBSTRING ${file} 5 -1 name)
    math(EXPR version "${version}")
    file(READ ${path} sql)
    string(REPLACE "\\" "\\\\" sql "${sql}")
    string(REPLACE "\"" "\\\"" sql "${sql}")
    string(REPLACE "\n" "\\n\"\n        \"" sql "${sql}")
    string(APPEND body "    {${version}, \"${name}\",\n        \"${sql}\"},\n")
endforeach()
file(WRITE ${OUT}.tmp
"/* Generated from ${SQL_DIR_NAME} by cmake/embed_sql.cmake: do not edit. */\n"
"#include \"regiond/store/store_pg_internal.h\"\n\n"
"const struct pg_migration ${SYMBOL}[] = {\n${body}};\n"
"const size_t ${SYMBOL}_count = sizeof ${SYMBOL} / sizeof ${SYMBOL}[0];\n")
# Rewrite only on change, so an unchanged schema does not rebuild.
configure_file(${OUT}.tmp ${OUT} COPYONLY)
