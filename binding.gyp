{
  "targets": [
    {
      "target_name": "tandem_fs",
      "sources": ["native/tandem_fs.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
