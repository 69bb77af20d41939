using System.Collections.Immutable;
using System.Composition;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PartitionedHosting.Analyzers;

/// <summary>Fixes PH0002: <c>await x.ConfigureAwait(false)</c> becomes <c>await x</c>, which comes back to the partition.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveConfigureAwaitCodeFixProvider)), Shared]
public sealed class RemoveConfigureAwaitCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ["PH0002"];

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindNode(context.Span, getInnermostNodeForTie: true) is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } invocation)
        {
            return;
        }

        context.RegisterCodeFix(
            CodeAction.Create(
                "Remove ConfigureAwait(false)",
                _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(invocation, member.Expression.WithTriviaFrom(invocation)))),
                equivalenceKey: nameof(RemoveConfigureAwaitCodeFixProvider)),
            context.Diagnostics);
    }
}
