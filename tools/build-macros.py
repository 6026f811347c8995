# BUILD-file macros shared by every package (loaded through
# [GLOBAL].build_file_prelude_globs). A package is three BUILD files:
#
#   packages/<dist>/BUILD        lit_package(...): the wheel and the layering rules
#   packages/<dist>/src/BUILD    lit_sources():    the code (one source root)
#   packages/<dist>/tests/BUILD  lit_tests(...):   the tests (another source root)
#
# The layering rules say which sibling packages and which third-party
# requirement groups (tools/deps/<group>) the code may import; Pants rejects
# every other import edge in each goal that resolves dependencies
# (`dependencies`, `test`, `package`).


def lit_package(
    dist,
    deps=(),
    third_party=("core",),
    extras=None,
    description="",
    dependents=None,
):
    """Declares the wheel of packages/<dist> and the layering rules of its subtree.

    Args:
        dist: the distribution name, e.g. "lit-loops".
        deps: sibling distributions the package's code may import.
        third_party: requirement groups (tools/deps/<group>) the code may import.
        extras: {extra: [requirement, ...]}: optional back-ends, imported lazily.
        description: one-line summary for the wheel metadata.
        dependents: paths allowed to depend on this package (default: no restriction).
    """
    version = env("LIT_VERSION", "0.0.0")
    siblings = ["//packages/%s/src/**" % d for d in deps]
    groups = ["//tools/deps/%s/**" % g for g in third_party]
    __dependencies_rules__(
        # Tests may also use the lit_hooks.testing fakes and any third-party group
        # (their own BUILD names the groups they need).
        ("/tests/**", "/**", *siblings, "//packages/lit-hooks/src/**", "//tools/deps/**", "!*"),
        ("*", "/**", *siblings, *groups, "!*"),
    )
    if dependents is not None:
        __dependents_rules__(("*", "/**", *dependents, "!*"))
    python_distribution(
        name="dist",
        dependencies=["./src:src", "./src:resources"],
        provides=python_artifact(
            name=dist,
            version=version,
            description=description,
            long_description_content_type="text/markdown",
            license="Apache-2.0",
            extras_require=extras or {},
        ),
        long_description_path="packages/%s/README.md" % dist,
        generate_setup=True,
        wheel=True,
        sdist=True,
    )


def lit_sources(**kwargs):
    """All modules of the package under this source root, plus its data files."""
    python_sources(name="src", sources=["**/*.py"], dependencies=[":resources"], **kwargs)
    resources(name="resources", sources=["**/py.typed", "**/*.npz", "**/*.json"])


def lit_tests(third_party=(), timeout=900, **kwargs):
    """The package's tests; test helpers (conftest, fakes) are every non-`test_*.py` module."""
    reqs = ["//tools/deps/%s:reqs" % g for g in ("test",) + tuple(third_party)]
    # The whole package under test, also the modules a test imports by name (doctests).
    package_src = "//%s/src:src" % build_file_dir().parent
    python_test_utils(name="test_utils", sources=["**/*.py", "!**/test_*.py"], dependencies=reqs)
    python_tests(
        name="tests",
        sources=["**/test_*.py"],
        dependencies=[":test_utils", package_src] + reqs,
        # Batch a package's test files into one pytest process (torch is imported once), but never
        # across packages: test modules of different packages may share a basename.
        batch_compatibility_tag=build_file_dir().parent.name,
        timeout=timeout,
        **kwargs
    )
