import io
import subprocess
import sys
import textwrap

from l2m_utils.progress import progress_bar


def test_progress_bar_iterates_and_counts():
    out = io.StringIO()
    bar = progress_bar(range(5), desc="test", file=out)
    assert list(bar) == [0, 1, 2, 3, 4]
    manual = progress_bar(total=3, file=out)
    manual.update(2)
    assert manual.n == 2 and manual.total == 3
    manual.close()
    assert "test: 100%" in out.getvalue()


def test_importing_the_package_imports_tqdm_auto_without_the_ipywidgets_warning():
    # tqdm.auto warns on its first import inside a Jupyter kernel without ipywidgets; simulate that kernel
    # (tqdm.autonotebook looks for ipykernel.zmqshell among the imported modules) and hide ipywidgets
    code = textwrap.dedent("""
        import sys, types, warnings
        sys.modules["ipywidgets"] = None
        sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
        import IPython
        IPython.get_ipython = lambda: types.SimpleNamespace()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            {first}
            import tqdm.auto  # as transformers does, after the package
        print(sum("IProgress" in str(w.message) for w in caught))
    """)

    def warnings_seen(first: str) -> int:
        run = subprocess.run([sys.executable, "-c", code.replace("{first}", first)], capture_output=True, text=True,
                             check=True)
        return int(run.stdout.strip())

    assert warnings_seen("pass") == 1  # the simulation reproduces the warning
    assert warnings_seen("import l2m_utils") == 0
